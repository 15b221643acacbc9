// @vitest-environment happy-dom
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { cleanup, render, screen } from '@testing-library/react'
import { prepareZXingModule } from 'barcode-detector/ponyfill'
import { encode } from 'uqr'
import { QrScanner, decodeQr } from '../renderer/src/components/QrScanner.tsx'
import { parseDeviceQr } from '../renderer/src/data/qr.ts'
import { ids } from './ui-fixture.tsx'

// In the browser the WASM is fetched from our bundle (locateFile); happy-dom cannot fetch a file path,
// so the test hands the same .wasm file's bytes to the module.
beforeAll(() => {
  const bytes = readFileSync(fileURLToPath(import.meta.resolve('zxing-wasm/reader/zxing_reader.wasm')))
  prepareZXingModule({ overrides: { wasmBinary: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) } })
})
afterEach(() => { cleanup() })

/** A device label's QR code rendered to pixels, dark modules black on white, `scale` px per module. */
function qrImage (text: string, scale = 4): ImageData {
  const qr = encode(text, { border: 4 })
  const size = qr.size * scale
  const px = new Uint8ClampedArray(size * size * 4)
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const dark = qr.data[Math.floor(y / scale)]![Math.floor(x / scale)] === true
      const i = (y * size + x) * 4
      px[i] = px[i + 1] = px[i + 2] = dark ? 0 : 255
      px[i + 3] = 255
    }
  }
  return new ImageData(px, size, size)
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
