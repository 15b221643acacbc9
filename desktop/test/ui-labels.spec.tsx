// @vitest-environment node
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { PDFDocument, PDFArray, PDFRawStream, decodePDFRawStream, type PDFPage } from 'pdf-lib'
import { build, type Rollup } from 'vite'
import { beforeAll, describe, expect, it } from 'vitest'
import { prepareZXingModule, readBarcodes } from 'zxing-wasm/reader'
import { labelPagesSvg, labelSheetSvg, labelsPerPage, type DeviceLabel } from '../renderer/src/labels/index.ts'
import { labelSheetPdf } from '../renderer/src/labels/pdf.ts'
import { printDocument } from '../renderer/src/labels/print.ts'

const grid = 'mgrid1hxx54d4amkau70cj9yaweldvj5rklmn0335l5h0p4yuuxvavfzsske4j4s'
const accounts = [
  'mg1q23qrwc2mkz3033wnduuy30dlqcd80mcer9ggn8er7d2xm0qdw70sey96dw',
  'mg1qvv6tug70f5sg4jw03ljuhzxsnsd0pxq00r0je4xysrzj94vsrtlv5j4tp9',
  'mg1q0fspz7m5uvzpxls8cfjym5kps5p5agajfzvpzwsqf54k56k35e3jypxjat',
  'mg1qwdfq9jk5yyrvqdm5m0204d5rr3ayh6fcrk6v5y3h68wnr87lfzgk8pksdh',
  'mg1q08x7hw376d9f0lpnz3p09m5quu5gmj70akvtq0muu9rdl02cepnxcux5tc'
]

function devices (count: number): DeviceLabel[] {
  return Array.from({ length: count }, (_, i) => ({
    label: i === 0 ? 'Lamp <N> & "café"' : `Device ${i}`,
    category: i % 2 === 0 ? 'street-light' : 'household',
    qr: `microgrid:${accounts[i % accounts.length]}?grid=${grid}&n=${i}`,
    gridName: 'Isla'
  }))
}

/** A white page with black rectangles, in pixels, for the QR reader. */
class Raster {
  readonly data: Uint8ClampedArray
  readonly width: number
  readonly height: number
  constructor (width: number, height: number) {
    this.width = width
    this.height = height
    this.data = new Uint8ClampedArray(width * height * 4).fill(255)
  }
  fill (x: number, y: number, w: number, h: number): void {
    for (let py = Math.round(y); py < Math.round(y + h); py++) {
      for (let px = Math.round(x); px < Math.round(x + w); px++) {
        const i = (py * this.width + px) * 4
        this.data[i] = this.data[i + 1] = this.data[i + 2] = 0
      }
    }
  }
  async decode (): Promise<string[]> {
    const found = await readBarcodes({ data: this.data, width: this.width, height: this.height, colorSpace: 'srgb' } as ImageData,
      { formats: ['QRCode'], maxNumberOfSymbols: 32, tryHarder: true })
    return found.map(r => r.text).sort()
  }
}

/** Draws each `<path class="qr">` of an SVG page (its `M x y h n v1 h-n z` runs) at `scale` pixels per mm. */
function rasterSvg (svg: string, scale: number): { raster: Raster, paths: number } {
  const height = Number(/viewBox="0 0 210 ([\d.]+)"/.exec(svg)?.[1])
  const raster = new Raster(210 * scale, Math.ceil(height * scale))
  const paths = [...svg.matchAll(/<path class="qr"[^>]*transform="translate\(([\d.]+) ([\d.]+)\) scale\(([\d.]+)\)" d="([^"]*)"/g)]
  for (const [, tx, ty, s, d] of paths) {
    for (const [, x, y, n] of d!.matchAll(/M(\d+) (\d+)h(\d+)v1h-\d+z/g)) {
      raster.fill((Number(tx) + Number(x) * Number(s)) * scale, (Number(ty) + Number(y) * Number(s)) * scale, Number(n) * Number(s) * scale, Number(s) * scale)
    }
  }
  return { raster, paths: paths.length }
}

/** A PDF page's content streams, decoded, as text. */
function contentText (page: PDFPage): string {
  const contents = page.node.Contents()
  const streams = contents instanceof PDFArray ? contents.asArray().map(ref => page.doc.context.lookup(ref)) : [contents]
  return streams.map(stream => new TextDecoder().decode(decodePDFRawStream(stream as PDFRawStream).decode())).join('\n')
}

/** Draws the `re` rectangles of a PDF page's content streams (the QR modules) at `scale` pixels per point. */
function rasterPdfPage (page: PDFPage, scale: number): Raster {
  const { width, height } = page.getSize()
  const raster = new Raster(Math.ceil(width * scale), Math.ceil(height * scale))
  for (const [, x, y, w, h] of contentText(page).matchAll(/([-\d.]+) ([-\d.]+) ([-\d.]+) ([-\d.]+) re/g)) {
    raster.fill(Number(x) * scale, (height - Number(y) - Number(h)) * scale, Number(w) * scale, Number(h) * scale)
  }
  return raster
}

beforeAll(() => {
  const require = createRequire(import.meta.url)
  const wasm = readFileSync(require.resolve('zxing-wasm/reader/zxing_reader.wasm'))
  prepareZXingModule({ overrides: { wasmBinary: wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength) }, fireImmediately: true })
})

describe('device label sheet as SVG', () => {
  it('holds one QR code per device, each decoding back to that device\'s payload', async () => {
    const labels = devices(7)
    const svg = labelSheetSvg(labels)
    const { raster, paths } = rasterSvg(svg, 8)
    expect(paths).toBe(7)
    expect(await raster.decode()).toEqual(labels.map(l => l.qr).sort())
  })

  it('shows each label\'s text, category and grid name, escaped for XML', () => {
    const svg = labelSheetSvg(devices(2))
    expect(svg).toContain('Lamp &#60;N&#62; &#38; &#34;café&#34;')
    expect(svg).toContain('Street light · Isla')
    expect(svg).toContain('Household · Isla')
    expect(svg).not.toContain('<N>')
  })

  it('splits into A4 pages of 12 labels for printing', async () => {
    const labels = devices(labelsPerPage + 1)
    const pages = labelPagesSvg(labels)
    expect(pages).toHaveLength(2)
    expect(pages[0]).toContain('width="210mm" height="297mm"')
    const first = rasterSvg(pages[0]!, 8)
    expect(first.paths).toBe(12)
    expect(await first.raster.decode()).toEqual(labels.slice(0, 12).map(l => l.qr).sort())
    expect(rasterSvg(pages[1]!, 8).paths).toBe(1)
    expect(labelSheetSvg(labels)).toContain('height="594mm"')
  })

  it('prints the pages under one linked stylesheet and no inline style (the CSP allows style from the app\'s origin only)', () => {
    const pages = labelPagesSvg(devices(labelsPerPage + 1))
    const html = printDocument(pages, 'http://127.0.0.1:4100/assets/print-B1x2.css')
    expect(html.match(/<link[\s>]/g)).toHaveLength(1)
    expect(html).toContain('<link rel="stylesheet" href="http://127.0.0.1:4100/assets/print-B1x2.css">')
    expect(html).not.toMatch(/<style[\s>]/)
    expect(html).not.toMatch(/\sstyle=/)
    expect(html.endsWith(pages.join(''))).toBe(true)
    expect(printDocument([], 'x.css?a=1&b="2"')).toContain('href="x.css?a=1&amp;b=&quot;2&quot;"')
  })

  it('has its print stylesheet built as a file of its own beside the code, not inlined as a data: URL the CSP would refuse', async () => {
    const renderer = new URL('../renderer/', import.meta.url)
    const built = await build({
      configFile: fileURLToPath(new URL('vite.config.ts', renderer)),
      logLevel: 'silent',
      build: {
        write: false,
        emptyOutDir: false,
        rollupOptions: { input: fileURLToPath(new URL('src/labels/print.ts', renderer)), preserveEntrySignatures: 'exports-only' }
      }
    }) as Rollup.RollupOutput
    const css = built.output.filter((o): o is Rollup.OutputAsset => o.type === 'asset' && o.fileName.endsWith('.css'))
    expect(css.map(o => o.fileName)).toEqual([expect.stringMatching(/^assets\/print-[\w-]+\.css$/)])
    expect(String(css[0]!.source)).toMatch(/@page\{size:A4;margin:0\}/)
    const code = built.output.filter((o): o is Rollup.OutputChunk => o.type === 'chunk').map(o => o.code).join('\n')
    // The module lies in assets/ too: the stylesheet's URL is the file beside it, on the same origin.
    const file = css[0]!.fileName.slice('assets/'.length).replace(/[.-]/g, '\\$&')
    expect(code).toMatch(new RegExp(`new URL\\([\`'"]${file}[\`'"],\\s*import\\.meta\\.url\\)`))
    expect(code).not.toContain('data:')
  })

  it('refuses a device without a QR payload', () => {
    expect(() => labelSheetSvg([{ label: 'x', category: 'other', qr: '', gridName: 'Isla' }])).toThrow(/labels\[0\]\.qr/)
  })
})

describe('device label sheet as PDF', () => {
  it('parses back as A4 pages, 12 labels a page, whose vector QR codes decode to the payloads', async () => {
    const labels = devices(14)
    const bytes = await labelSheetPdf(labels, 'Isla labels')
    const doc = await PDFDocument.load(bytes)
    expect(doc.getPageCount()).toBe(2)
    expect(doc.getTitle()).toBe('Isla labels')
    const [first, second] = doc.getPages()
    expect(first!.getSize().width).toBeCloseTo(595.28, 1)
    expect(first!.getSize().height).toBeCloseTo(841.89, 1)
    expect(await rasterPdfPage(first!, 3).decode()).toEqual(labels.slice(0, 12).map(l => l.qr).sort())
    expect(await rasterPdfPage(second!, 3).decode()).toEqual(labels.slice(12).map(l => l.qr).sort())
  })

  it('prints labels the standard fonts cannot show with ? in place of those characters', async () => {
    const bytes = await labelSheetPdf([{ label: 'Lamp 灯', category: 'public', qr: `microgrid:${accounts[0]}?grid=${grid}`, gridName: 'Isla' }])
    expect((await PDFDocument.load(bytes)).getPageCount()).toBe(1)
  })

  it('shrinks a long label\'s name to fit its label', async () => {
    const sizes = async (label: string): Promise<number[]> => {
      const doc = await PDFDocument.load(await labelSheetPdf([{ label, category: 'public', qr: `microgrid:${accounts[0]}?grid=${grid}`, gridName: 'Isla' }]))
      return [...contentText(doc.getPages()[0]!).matchAll(/ ([\d.]+) Tf/g)].map(m => Number(m[1]))
    }
    expect((await sizes('Lamp'))[0]).toBe(12)
    expect((await sizes('WWWW MMMM WWWW MMMM WWWW'))[0]).toBeLessThan(10)
  })

  it('makes one empty page for no devices', async () => {
    expect((await PDFDocument.load(await labelSheetPdf([]))).getPageCount()).toBe(1)
  })
})
