import { encode } from 'uqr'

/** What one printed label shows: the device's name and kind, its QR payload and the grid it belongs to. */
export interface DeviceLabel {
  label: string
  category: string
  /** The device's `qr` payload from the API (`microgrid:<account>?grid=<grid>`). */
  qr: string
  gridName: string
}

/** An A4 sheet of labels, in millimetres: 3 columns by 4 rows. */
export const sheet = Object.freeze({
  widthMm: 210,
  heightMm: 297,
  marginMm: 10,
  columns: 3,
  rows: 4,
  qrMm: 42,
  /** Light modules around the QR code, as its standard asks. */
  quietModules: 4
})

export const labelsPerPage = sheet.columns * sheet.rows
export const cellWidthMm = (sheet.widthMm - 2 * sheet.marginMm) / sheet.columns
export const cellHeightMm = (sheet.heightMm - 2 * sheet.marginMm) / sheet.rows

const categoryNames: Record<string, string> = {
  household: 'Household',
  'street-light': 'Street light',
  stadium: 'Stadium',
  public: 'Public place',
  business: 'Business',
  other: 'Other'
}

export function categoryName (category: string): string {
  return categoryNames[category] ?? category
}

/** A label's position on its page: the top-left corner of its cell, in mm. */
export interface PlacedLabel {
  page: number
  xMm: number
  yMm: number
  label: DeviceLabel
}

export function placeLabels (labels: readonly DeviceLabel[]): PlacedLabel[] {
  for (const [i, l] of labels.entries()) {
    if (typeof l.qr !== 'string' || l.qr.length === 0) throw new TypeError(`labels[${i}].qr: expected a non-empty QR payload`)
  }
  return labels.map((label, i) => {
    const onPage = i % labelsPerPage
    return {
      page: Math.floor(i / labelsPerPage),
      xMm: sheet.marginMm + (onPage % sheet.columns) * cellWidthMm,
      yMm: sheet.marginMm + Math.floor(onPage / sheet.columns) * cellHeightMm,
      label
    }
  })
}

export function pageCount (labels: readonly DeviceLabel[]): number {
  return Math.max(1, Math.ceil(labels.length / labelsPerPage))
}

/** Dark modules of a QR code as horizontal runs, in modules from its top-left corner (no quiet zone). */
export interface QrRun { x: number, y: number, length: number }

export function qrRuns (payload: string): { size: number, runs: QrRun[] } {
  const qr = encode(payload, { ecc: 'M', border: 0 })
  const runs: QrRun[] = []
  qr.data.forEach((row, y) => {
    let start = -1
    row.forEach((dark, x) => {
      if (dark && start < 0) start = x
      if (!dark && start >= 0) { runs.push({ x: start, y, length: x - start }); start = -1 }
    })
    if (start >= 0) runs.push({ x: start, y, length: row.length - start })
  })
  return { size: qr.size, runs }
}

/** Cuts text to at most `max` characters, with an ellipsis when cut. */
export function fitText (text: string, max: number): string {
  const chars = Array.from(text)
  return chars.length <= max ? text : chars.slice(0, max - 1).join('') + '…'
}
