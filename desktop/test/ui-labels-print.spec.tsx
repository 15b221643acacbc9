// @vitest-environment happy-dom
/**
 * Printing the label pages from a frame: its document inherits the page's CSP (style-src 'self'), so the
 * A4 layout is print.css, a file of the app's origin; it prints once that stylesheet has loaded, and
 * says so instead of printing when it cannot load. happy-dom serves print.css from its folder here.
 */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BrowserWindow } from 'happy-dom'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { labelPagesSvg, labelsPerPage, type DeviceLabel } from '../renderer/src/labels/index.ts'
import { printLabelPages } from '../renderer/src/labels/print.ts'

const SERVED = 'http://localhost:3000/labels/'

interface Printed { sheetLoaded: boolean, bodyMargin: string, pages: number }
let printed: Printed[] = []

beforeAll(() => {
  const settings = (window as unknown as { happyDOM: { settings: { enableIframePageLoading: boolean, enableCSSFileLoading: boolean, fetch: { virtualServers: unknown } } } }).happyDOM.settings
  settings.enableIframePageLoading = true
  settings.enableCSSFileLoading = true
  settings.fetch.virtualServers = [{ url: SERVED, directory: join(dirname(fileURLToPath(import.meta.url)), '../renderer/src/labels') }]
  // happy-dom's windows have no print(): each one records what its document holds when printed.
  Object.defineProperty(BrowserWindow.prototype, 'print', {
    configurable: true,
    value: function (this: Window): void {
      const doc = this.document
      printed.push({
        sheetLoaded: (doc.querySelector('link[rel="stylesheet"]') as HTMLLinkElement | null)?.sheet != null,
        bodyMargin: this.getComputedStyle(doc.body).margin,
        pages: doc.querySelectorAll('body > svg').length
      })
    }
  })
})
afterAll(() => { Reflect.deleteProperty(BrowserWindow.prototype, 'print') })
afterEach(() => { printed = []; document.body.replaceChildren() })

const labels: DeviceLabel[] = Array.from({ length: labelsPerPage + 1 }, (_, i) => ({ label: `Device ${i}`, category: 'household', qr: `microgrid:mg1q23qrwc2mkz3033wnduuy30dlqcd80mcer9ggn8er7d2xm0qdw70sey96dw?n=${i}`, gridName: 'Isla' }))

describe('printing the label pages', () => {
  it('prints once the frame\'s stylesheet, print.css, has loaded and laid the pages out', async () => {
    await printLabelPages(labelPagesSvg(labels), `${SERVED}print.css`)
    // printed before it loaded: no sheet yet and no margin set (happy-dom has no default one)
    expect(printed).toEqual([{ sheetLoaded: true, bodyMargin: '0px', pages: 2 }])
    const frame = document.querySelector('iframe') as HTMLIFrameElement
    expect(frame.contentDocument?.querySelector('style')).toBeNull()
  })

  it('prints nothing and says so when the stylesheet cannot load, and takes the frame away', async () => {
    await expect(printLabelPages(labelPagesSvg(labels), `${SERVED}missing.css`)).rejects.toThrow('The labels could not be prepared for printing: their page layout did not load.')
    expect(printed).toEqual([])
    expect(document.querySelector('iframe')).toBeNull()
  })
})
