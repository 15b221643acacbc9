import { PDFDocument, StandardFonts, fill, popGraphicsState, pushGraphicsState, rectangle, rgb, setFillingGrayscaleColor, type PDFFont, type PDFPage } from 'pdf-lib'
import { categoryName, cellHeightMm, cellWidthMm, fitText, pageCount, placeLabels, qrRuns, sheet, type DeviceLabel, type PlacedLabel } from './layout.ts'

const pt = (mm: number): number => mm * 72 / 25.4

/** Text the standard PDF fonts can show: characters outside their encoding become '?'. */
function printable (font: PDFFont, text: string): string {
  const known = new Set(font.getCharacterSet())
  return Array.from(text).map(c => known.has(c.codePointAt(0) ?? 0) ? c : '?').join('')
}

/** Draws text centred on `centreXMm`, its size reduced if needed to fit the label's width. */
function centred (page: PDFPage, font: PDFFont, text: string, wanted: number, centreXMm: number, baselineMm: number, grey = 0): void {
  const shown = printable(font, text)
  const room = pt(cellWidthMm - 8)
  const size = Math.min(wanted, wanted * room / Math.max(1, font.widthOfTextAtSize(shown, wanted)))
  page.drawText(shown, {
    x: pt(centreXMm) - font.widthOfTextAtSize(shown, size) / 2,
    y: pt(sheet.heightMm - baselineMm),
    size,
    font,
    color: rgb(grey, grey, grey)
  })
}

function drawLabel (page: PDFPage, fonts: { bold: PDFFont, regular: PDFFont }, { xMm, yMm, label }: PlacedLabel): void {
  const { size, runs } = qrRuns(label.qr)
  const moduleMm = sheet.qrMm / (size + 2 * sheet.quietModules)
  const qrX = xMm + (cellWidthMm - sheet.qrMm) / 2 + sheet.quietModules * moduleMm
  const qrTop = yMm + 4 + sheet.quietModules * moduleMm
  page.drawRectangle({
    x: pt(xMm + 2), y: pt(sheet.heightMm - yMm - cellHeightMm + 2), width: pt(cellWidthMm - 4), height: pt(cellHeightMm - 4),
    borderColor: rgb(0.6, 0.65, 0.7), borderWidth: 0.5, borderDashArray: [5, 4]
  })
  // Each run of dark modules is one filled rectangle: vector, sharp at any print size.
  page.pushOperators(
    pushGraphicsState(),
    setFillingGrayscaleColor(0),
    ...runs.map(r => rectangle(pt(qrX + r.x * moduleMm), pt(sheet.heightMm - qrTop - (r.y + 1) * moduleMm), pt(r.length * moduleMm), pt(moduleMm))),
    fill(),
    popGraphicsState()
  )
  const centre = xMm + cellWidthMm / 2
  const textTop = yMm + 4 + sheet.qrMm + 5
  centred(page, fonts.bold, fitText(label.label, 26), 12, centre, textTop)
  centred(page, fonts.regular, fitText(`${categoryName(label.category)} · ${label.gridName}`, 36), 9, centre, textTop + 5)
  centred(page, fonts.regular, 'Scan to fund with electricity', 7.5, centre, textTop + 9.5, 0.32)
}

/** The label sheet as a vector PDF: A4 pages of 3 × 4 labels. */
export async function labelSheetPdf (labels: readonly DeviceLabel[], title = 'Device labels'): Promise<Uint8Array> {
  const placed = placeLabels(labels)
  const doc = await PDFDocument.create()
  doc.setTitle(title)
  doc.setCreator('Microgrid')
  const fonts = { bold: await doc.embedFont(StandardFonts.HelveticaBold), regular: await doc.embedFont(StandardFonts.Helvetica) }
  for (let p = 0; p < pageCount(labels); p++) {
    const page = doc.addPage([pt(sheet.widthMm), pt(sheet.heightMm)])
    for (const label of placed.filter(l => l.page === p)) drawLabel(page, fonts, label)
  }
  return await doc.save()
}
