// Printing label pages from a hidden frame, one A4 page per SVG. The frame's document inherits the
// page's CSP (style-src 'self': no inline style), so its one stylesheet is a file of the app's origin.
import printStylesheetUrl from './print.css?url'

/** The print frame's stylesheet (print.css), a file the build emits beside the app's own. */
export const PRINT_STYLESHEET: string = printStylesheetUrl

const PREPARE_FAILED = 'The labels could not be prepared for printing.'

const escapeAttribute = (value: string): string => value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;')

/** The print frame's document: the pages (labelPagesSvg) under the stylesheet at `stylesheet`. */
export function printDocument (pages: readonly string[], stylesheet: string): string {
  return `<!doctype html><title>Device labels</title><link rel="stylesheet" href="${escapeAttribute(stylesheet)}">${pages.join('')}`
}

/**
 * Prints the pages (labelPagesSvg) through the system's print dialog once the frame's stylesheet has
 * loaded (before, the pages would print with the browser's margins); rejects if it cannot load.
 */
export async function printLabelPages (pages: readonly string[], stylesheet: string = PRINT_STYLESHEET): Promise<void> {
  const frame = document.createElement('iframe')
  frame.title = 'Labels to print'
  frame.style.cssText = 'position:fixed;width:0;height:0;border:0;right:0;bottom:0'
  document.body.append(frame)
  const doc = frame.contentDocument
  if (doc === null) { frame.remove(); throw new Error(PREPARE_FAILED) }
  doc.open()
  // Absolute, so that it does not depend on the base URL of the frame's about:blank document.
  doc.write(printDocument(pages, new URL(stylesheet, document.baseURI).href))
  doc.close()
  const link = doc.querySelector('link[rel="stylesheet"]')
  try {
    await new Promise<void>((resolve, reject) => {
      if (link === null) { reject(new Error(PREPARE_FAILED)); return }
      link.addEventListener('load', () => { resolve() }, { once: true })
      link.addEventListener('error', () => { reject(new Error('The labels could not be prepared for printing: their page layout did not load.')) }, { once: true })
    })
  } catch (err) {
    frame.remove()
    throw err
  }
  frame.contentWindow?.focus()
  frame.contentWindow?.print()
  setTimeout(() => frame.remove(), 60_000)
}
