/**
 * Serving the built UI (a single-page app) at `/`, beside the API under `/api/v1`: its files, and
 * `index.html` for `/` and for any other path that names no file (the app routes on the client).
 * The files hold no data, so they need no token; the Host check still applies (security.ts), and
 * every response carries a strict Content-Security-Policy. Hashed assets under `/assets/` are cached
 * for good, everything else is checked again on each load (`no-cache`).
 */
import { existsSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { serveStatic } from '@hono/node-server/serve-static'
import type { OpenAPIHono } from '@hono/zod-openapi'
import type { Context } from 'hono'
import type { UiOptions } from './context.ts'

export type { UiOptions }

/**
 * The UI's Content-Security-Policy, here and in the desktop app's own scheme (desktop/src/main/app-scheme.ts
 * uses this one): everything from the UI's own origin (the API included: in a browser it is this origin,
 * in the desktop app the scheme forwards /api/ to the node), WebAssembly for the QR decoder, no plugins,
 * no <base>, no framing, no form posts. Beyond the origin:
 * - img-src data: Leaflet's stylesheet images, which Vite inlines as data: URLs; blob: barcode-detector
 *   reads a photo it cannot decode with createImageBitmap through an <img> of the file's blob: URL;
 * - img-src https: the map's street tiles. Their server is the household's choice, made in the UI at run
 *   time and kept in the browser's storage (desktop/renderer/src/data/tiles.ts, https only): this header
 *   cannot name it. Nothing else puts https images in the page (device labels go in as text).
 * style-src is 'self' alone: the UI has no inline <style> (the label print frame links a stylesheet file,
 * desktop/renderer/src/labels/print.css) and no style attribute; React's style props and Leaflet's
 * positioning set element.style (the CSSOM), which CSP does not restrict.
 */
export const UI_CSP = [
  "default-src 'self'",
  "img-src 'self' data: blob: https:",
  "style-src 'self'",
  "connect-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'"
].join('; ')

const IMMUTABLE = 'public, max-age=31536000, immutable'

/** The directory, made absolute; a TypeError naming the problem if it is no built app. */
export function checkUiDir (dir: string): string {
  const root = resolve(dir)
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new TypeError(`ui.dir: ${JSON.stringify(dir)} is not a directory`)
  if (!existsSync(join(root, 'index.html'))) throw new TypeError(`ui.dir: ${JSON.stringify(dir)} holds no index.html (build the UI first)`)
  return root
}

/** A path that could step out of the directory or hide a file name: `..` segments, backslashes, escapes, NUL. */
const UNSAFE = /(?:^|\/)\.\.?(?:\/|$)|\\|%|\0|\/\//

/** Answers GET and HEAD outside `apiPrefix` from the UI's files (the Host check and headers run before). */
export function uiRoutes (app: OpenAPIHono, options: UiOptions, apiPrefix: string): void {
  const root = checkUiDir(options.dir)
  const files = serveStatic({ root, index: 'index.html' })
  const index = serveStatic({ path: join(root, 'index.html') })
  const none = async (): Promise<void> => {}
  const headers = (c: Context, path: string): void => {
    c.header('Content-Security-Policy', UI_CSP)
    c.header('X-Content-Type-Options', 'nosniff')
    c.header('Referrer-Policy', 'no-referrer')
    c.header('Cache-Control', path.startsWith('/assets/') ? IMMUTABLE : 'no-cache')
  }
  app.get('*', async (c, next) => {
    const path = c.req.path
    if (path === apiPrefix || path.startsWith(`${apiPrefix}/`)) { await next(); return undefined }
    if (UNSAFE.test(path)) return c.text('not found', 404)
    headers(c, path)
    const found = await files(c, none)
    if (found instanceof Response) return found
    // A file name that is not there is a 404; any other path is the app's own route.
    const last = path.slice(path.lastIndexOf('/') + 1)
    if (last.includes('.')) {
      c.header('Cache-Control', 'no-store')
      return c.text('not found', 404)
    }
    c.header('Cache-Control', 'no-cache')
    const page = await index(c, none)
    if (page instanceof Response) return page
    return c.text('not found', 404)
  })
}
