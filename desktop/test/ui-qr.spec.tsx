// @vitest-environment happy-dom
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { crc32, deflateSync } from 'node:zlib'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { cleanup, fireEvent, render, screen } from '@testing-library/react'
import { prepareZXingModule } from 'barcode-detector/ponyfill'
import { encode } from 'uqr'
// Imported before FundDevice loads it lazily, so that the WASM bytes given below are the last word.
import { QrScanner, decodeQr } from '../renderer/src/components/QrScanner.tsx'
import { parseDeviceQr } from '../renderer/src/data/qr.ts'
import { FundDevice } from '../renderer/src/pages/resident/FundDevice.tsx'
import { ids, mockApi, renderWithReplica } from './ui-fixture.tsx'

// In the browser the WASM is fetched from our bundle (locateFile); happy-dom cannot fetch a file path,
// so the test hands the same .wasm file's bytes to the module.
beforeAll(() => {
  const bytes = readFileSync(fileURLToPath(import.meta.resolve('zxing-wasm/reader/zxing_reader.wasm')))
  prepareZXingModule({ overrides: { wasmBinary: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) } })
})
afterEach(() => { cleanup(); vi.unstubAllGlobals() })

/** A QR code's pixels, grey levels row by row: dark modules 0, light 255, `scale` px per module. */
function qrPixels (text: string, scale = 4): { size: number, grey: Uint8Array } {
  const qr = encode(text, { border: 4 })
  const size = qr.size * scale
  const grey = new Uint8Array(size * size)
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) grey[y * size + x] = qr.data[Math.floor(y / scale)]![Math.floor(x / scale)] === true ? 0 : 255
  }
  return { size, grey }
}

/** A device label's QR code rendered to pixels, dark modules black on white. */
function qrImage (text: string, scale = 4): ImageData {
  const { size, grey } = qrPixels(text, scale)
  const px = new Uint8ClampedArray(size * size * 4)
  for (let i = 0; i < grey.length; i++) {
    px[i * 4] = px[i * 4 + 1] = px[i * 4 + 2] = grey[i]!
    px[i * 4 + 3] = 255
  }
  return new ImageData(px, size, size)
}

/** A device label's QR code as a PNG file, as a photo upload gives one. */
function qrPng (text: string): File {
  const { size, grey } = qrPixels(text, 6)
  return pngFile(size, grey, 'label.png')
}

/** A square PNG file of grey levels: 8-bit greyscale, one IDAT. */
function pngFile (size: number, grey: Uint8Array, name: string): File {
  const rows = new Uint8Array(size * (size + 1)) // each row: filter type 0, then its pixels
  for (let y = 0; y < size; y++) rows.set(grey.subarray(y * size, (y + 1) * size), y * (size + 1) + 1)
  const chunk = (type: string, data: Uint8Array): Buffer => {
    const typed = Buffer.concat([Buffer.from(type, 'latin1'), data])
    const out = Buffer.alloc(typed.length + 8)
    out.writeUInt32BE(data.length, 0)
    typed.copy(out, 4)
    out.writeUInt32BE(crc32(typed), typed.length + 4)
    return out
  }
  const header = Buffer.alloc(13)
  header.writeUInt32BE(size, 0)
  header.writeUInt32BE(size, 4)
  header[8] = 8 // bit depth; colour type 0 (grey), compression, filter and interlace 0
  const png = Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', header), chunk('IDAT', deflateSync(rows)), chunk('IEND', new Uint8Array())])
  return new File([new Uint8Array(png)], name, { type: 'image/png' })
}

/**
 * happy-dom has createImageBitmap and Image but decodes no pixels, so barcode-detector would read a
 * blank picture; without them it hands the file's bytes to ZXing, which decodes the PNG in its WASM
 * (a browser decodes it natively, then ZXing reads the same pixels).
 */
function withoutDomImageDecoding (): void {
  vi.stubGlobal('createImageBitmap', undefined)
  vi.stubGlobal('Image', undefined)
}

describe('QR decoding', () => {
  it('decodes a device label the test renders, with the bundled ZXing WASM', async () => {
    const payload = `microgrid:${ids.household}?grid=${ids.grid}`
    const text = await decodeQr(qrImage(payload))
    expect(text).toBe(payload)
    expect(parseDeviceQr(text!, ids.grid).account).toBe(ids.household)
  })

  it('finds nothing in a blank image', async () => {
    expect(await decodeQr(new ImageData(new Uint8ClampedArray(64 * 64 * 4).fill(255), 64, 64))).toBeNull()
  })

  it('chooses the device to fund from a photo of its QR label', async () => {
    withoutDomImageDecoding()
    const api = mockApi(call => call.path === '/actions/fund' ? { body: { status: 'applied', id: 'f', kind: 'transfer', author: ids.resident, seq: 2, ts: 0, funds: {} } } : undefined)
    try {
      renderWithReplica(<FundDevice me={{ name: 'resident', account: ids.resident, roles: ['resident'] }} grid={ids.grid} />)
      expect(screen.getByText('No device chosen yet.')).toBeTruthy()
      fireEvent.click(screen.getByRole('button', { name: 'Scan its QR code' }))
      const photo = await screen.findByLabelText('Photo of the QR label')
      fireEvent.change(photo, { target: { files: [qrPng(`microgrid:${ids.lamp}?grid=${ids.grid}`)] } })
      expect((await screen.findByText('Plaza lamp', { selector: 'strong' }, { timeout: 5000 })).parentElement?.textContent).toBe('Funding Plaza lamp')
      expect(screen.queryByRole('alert')).toBeNull()
      fireEvent.click(screen.getByRole('button', { name: 'Fund' }))
      await screen.findByText('Gave 1 kWh to Plaza lamp.')
      expect(api.calls.find(c => c.path === '/actions/fund')?.body).toEqual({ device: ids.lamp, wh: 1000, as: 'resident' })
    } finally { api.restore() }
  })

  it('says so when a photo holds no QR code, or the label of another grid', async () => {
    withoutDomImageDecoding()
    renderWithReplica(<FundDevice me={{ name: 'resident', account: ids.resident, roles: ['resident'] }} grid={ids.grid} />)
    fireEvent.click(screen.getByRole('button', { name: 'Scan its QR code' }))
    const photo = await screen.findByLabelText('Photo of the QR label')
    fireEvent.change(photo, { target: { files: [pngFile(120, new Uint8Array(120 * 120).fill(255), 'wall.png')] } })
    expect((await screen.findByRole('alert', {}, { timeout: 5000 })).textContent).toBe('No QR code found in that photo. Try a sharper, closer photo of the label.')
    const other = 'mgrid1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq'
    fireEvent.change(photo, { target: { files: [qrPng(`microgrid:${ids.lamp}?grid=${other}`)] } })
    expect((await screen.findByText(/another grid/, {}, { timeout: 5000 })).textContent).toBe('This device belongs to another grid, not the one this app is on.')
    expect(screen.getByText('No device chosen yet.')).toBeTruthy()
  })

  it('offers a photo upload, and no camera button without getUserMedia', () => {
    render(<QrScanner onScan={() => {}} />)
    const input = screen.getByLabelText('Photo of the QR label') as HTMLInputElement
    expect(input.type).toBe('file')
    expect(input.accept).toBe('image/*')
    // happy-dom has no navigator.mediaDevices, like a browser on plain http
    expect(navigator.mediaDevices?.getUserMedia).toBeUndefined()
    expect(screen.queryByRole('button', { name: 'Scan with camera' })).toBeNull()
  })
})
