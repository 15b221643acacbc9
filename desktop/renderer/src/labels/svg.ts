import { categoryName, cellHeightMm, cellWidthMm, fitText, pageCount, placeLabels, qrRuns, sheet, type DeviceLabel, type PlacedLabel } from './layout.ts'

const mm = (n: number): string => String(Math.round(n * 1000) / 1000)

function escapeXml (text: string): string {
  return text.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`)
}

function labelSvg ({ xMm, yMm, label }: PlacedLabel, yOffsetMm: number): string {
  const { size, runs } = qrRuns(label.qr)
  const module = sheet.qrMm / (size + 2 * sheet.quietModules)
  const qrX = xMm + (cellWidthMm - sheet.qrMm) / 2
  const qrY = yOffsetMm + yMm + 4
  const path = runs.map(r => `M${r.x} ${r.y}h${r.length}v1h-${r.length}z`).join('')
  const textX = xMm + cellWidthMm / 2
  const textY = qrY + sheet.qrMm + 5
  return [
    `<g class="device-label">`,
    `<rect x="${mm(xMm + 2)}" y="${mm(yOffsetMm + yMm + 2)}" width="${mm(cellWidthMm - 4)}" height="${mm(cellHeightMm - 4)}" rx="3" fill="none" stroke="#9aa5b1" stroke-width="0.3" stroke-dasharray="2 1.5"/>`,
    `<rect x="${mm(qrX)}" y="${mm(qrY)}" width="${sheet.qrMm}" height="${sheet.qrMm}" fill="#fff"/>`,
    `<path class="qr" data-payload="${escapeXml(label.qr)}" data-modules="${size}" fill="#000" shape-rendering="crispEdges" ` +
      `transform="translate(${mm(qrX + sheet.quietModules * module)} ${mm(qrY + sheet.quietModules * module)}) scale(${mm(module)})" d="${path}"/>`,
    `<text x="${mm(textX)}" y="${mm(textY)}" text-anchor="middle" font-family="Helvetica, Arial, sans-serif" font-size="4" font-weight="bold">${escapeXml(fitText(label.label, 24))}</text>`,
    `<text x="${mm(textX)}" y="${mm(textY + 5)}" text-anchor="middle" font-family="Helvetica, Arial, sans-serif" font-size="3.2">${escapeXml(fitText(`${categoryName(label.category)} · ${label.gridName}`, 36))}</text>`,
    `<text x="${mm(textX)}" y="${mm(textY + 9.5)}" text-anchor="middle" font-family="Helvetica, Arial, sans-serif" font-size="2.6" fill="#52606d">Scan to fund with electricity</text>`,
    `</g>`
  ].join('')
}

function svgDocument (heightMm: number, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${sheet.widthMm}mm" height="${heightMm}mm" viewBox="0 0 ${sheet.widthMm} ${heightMm}">` +
    `<rect width="${sheet.widthMm}" height="${heightMm}" fill="#fff"/>${body}</svg>`
}

/** One SVG document per A4 page of labels (for printing page by page). */
export function labelPagesSvg (labels: readonly DeviceLabel[]): string[] {
  const placed = placeLabels(labels)
  return Array.from({ length: pageCount(labels) }, (_, page) =>
    svgDocument(sheet.heightMm, placed.filter(p => p.page === page).map(p => labelSvg(p, 0)).join('')))
}

/** The whole sheet as one SVG document: its A4 pages one below the other (for download). */
export function labelSheetSvg (labels: readonly DeviceLabel[]): string {
  const placed = placeLabels(labels)
  return svgDocument(sheet.heightMm * pageCount(labels), placed.map(p => labelSvg(p, p.page * sheet.heightMm)).join(''))
}
