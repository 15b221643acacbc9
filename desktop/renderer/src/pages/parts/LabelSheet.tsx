// Printing the devices' QR labels: download the sheet as SVG or PDF, or print it.
import { useState, type ReactNode } from 'react'
import type { Device } from '../../data/types.ts'
import { labelPagesSvg, labelSheetSvg, printLabelPages, type DeviceLabel } from '../../labels/index.ts'

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
        <button type='button' className='secondary' disabled={labels.length === 0} onClick={() => { void run(() => printLabelPages(labelPagesSvg(labels)))() }}>Print labels</button>
      </div>
      <ErrorNote error={error} />
    </div>
  )
}
