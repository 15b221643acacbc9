// Printing the devices' QR labels: download the sheet as SVG or PDF, or print it.
import { useState, type ReactNode } from 'react'
import type { Device } from '../../data/types.ts'
import { labelPagesSvg, labelSheetSvg, type DeviceLabel } from '../../labels/index.ts'

// pdf-lib is most of a label sheet's code: it loads when a PDF is first asked for, not with the app.
const labelSheetPdf = async (...args: Parameters<typeof import('../../labels/pdf.ts').labelSheetPdf>): Promise<Uint8Array> =>
  await (await import('../../labels/pdf.ts')).labelSheetPdf(...args)
import { ErrorNote } from './ui.tsx'

function download (name: string, data: BlobPart, type: string): void {
  const url = URL.createObjectURL(new Blob([data], { type }))
  const link = document.createElement('a')
  link.href = url
  link.download = name
  document.body.append(link)
  link.click()
  link.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}

/** Prints the label pages from a hidden frame (one A4 page per SVG). */
function printPages (pages: string[]): void {
  const frame = document.createElement('iframe')
  frame.title = 'Labels to print'
  frame.style.cssText = 'position:fixed;width:0;height:0;border:0;right:0;bottom:0'
  document.body.append(frame)
  const doc = frame.contentDocument
  if (doc === null) { frame.remove(); throw new Error('The labels could not be prepared for printing.') }
  doc.open()
  doc.write(`<!doctype html><title>Device labels</title><style>@page{size:A4;margin:0}body{margin:0}svg{display:block;width:210mm;height:297mm;page-break-after:always}</style>${pages.join('')}`)
  doc.close()
  frame.contentWindow?.focus()
  frame.contentWindow?.print()
  setTimeout(() => frame.remove(), 60_000)
}

export function LabelSheet ({ devices, gridName }: { devices: Device[], gridName: string }): ReactNode {
  const [error, setError] = useState<unknown>(null)
  const labels: DeviceLabel[] = devices.map(d => ({ label: d.label, category: d.category, qr: d.qr, gridName }))
  const file = `${gridName.replace(/[^A-Za-z0-9-]+/g, '-') || 'grid'}-labels`
  const run = (action: () => void | Promise<void>) => async () => {
    setError(null)
    try { await action() } catch (err) { setError(err) }
  }
  return (
    <div>
      <p>{labels.length === 0 ? 'No devices are registered yet.' : `${labels.length} ${labels.length === 1 ? 'label' : 'labels'}, 12 to an A4 page. Stick each on its device's meter or pole: scanning it opens the device to fund.`}</p>
      <div className='actions'>
        <button type='button' disabled={labels.length === 0} onClick={() => { void run(() => download(`${file}.svg`, labelSheetSvg(labels), 'image/svg+xml'))() }}>Download labels (SVG)</button>
        <button type='button' disabled={labels.length === 0} onClick={() => { void run(async () => download(`${file}.pdf`, await labelSheetPdf(labels, `${gridName} device labels`) as Uint8Array<ArrayBuffer>, 'application/pdf'))() }}>Download labels (PDF)</button>
        <button type='button' className='secondary' disabled={labels.length === 0} onClick={() => { void run(() => printPages(labelPagesSvg(labels)))() }}>Print labels</button>
      </div>
      <ErrorNote error={error} />
    </div>
  )
}
