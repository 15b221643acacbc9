// Printing label pages from a hidden frame, one A4 page per SVG. The frame inherits the app's CSP,
// which allows its one <style> by hash (desktop/src/main/app-scheme.ts): a change here changes the hash.

/** The print frame's stylesheet, exactly: its SHA-256 is in the app scheme's CSP. */
export const PRINT_STYLE = '@page{size:A4;margin:0}body{margin:0}svg{display:block;width:210mm;height:297mm;page-break-after:always}'

/** The print frame's document: the pages (labelPagesSvg) under PRINT_STYLE. */
export function printDocument (pages: readonly string[]): string {
  return `<!doctype html><title>Device labels</title><style>${PRINT_STYLE}</style>${pages.join('')}`
}

/** Prints the pages (labelPagesSvg) through the system's print dialog. */
export function printLabelPages (pages: readonly string[]): void {
  const frame = document.createElement('iframe')
  frame.title = 'Labels to print'
  frame.style.cssText = 'position:fixed;width:0;height:0;border:0;right:0;bottom:0'
  document.body.append(frame)
  const doc = frame.contentDocument
  if (doc === null) { frame.remove(); throw new Error('The labels could not be prepared for printing.') }
  doc.open()
  doc.write(printDocument(pages))
  doc.close()
  frame.contentWindow?.focus()
  frame.contentWindow?.print()
  setTimeout(() => frame.remove(), 60_000)
}
