/**
 * The app's own origin, `microgrid-app://app/`: a privileged custom scheme (standard, secure, fetch)
 * instead of file://, so the UI has a real origin (storage, CSP 'self', a secure context for the
 * camera) that no web page shares. Its headers and file types live here; the handler in app-protocol.ts.
 */

import { UI_CSP } from '@microgrid/node'

export const APP_SCHEME = 'microgrid-app'
export const APP_HOST = 'app'
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`
/** The page the window loads. */
export const APP_ENTRY = `${APP_ORIGIN}/index.html`

/** What `protocol.registerSchemesAsPrivileged` gives the scheme (before the app is ready). */
export const APP_SCHEME_PRIVILEGES = Object.freeze({
  standard: true,
  secure: true,
  supportFetchAPI: true,
  // The replica channel's response is a long-lived stream.
  stream: true,
  bypassCSP: false,
  corsEnabled: false,
  allowServiceWorkers: false
})

/**
 * The UI's Content-Security-Policy: the one a node serves the UI under to browsers (UI_CSP, its reasons
 * written there), as the same UI needs the same here: everything from the app's origin only (the node's
 * API included: app-protocol.ts forwards /api/ to it), style from its files alone, images also over https
 * (the map's tile server, chosen in the UI at run time).
 */
export const CONTENT_SECURITY_POLICY = UI_CSP

/** Headers on every response of the scheme. */
export const SECURITY_HEADERS = Object.freeze({
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin'
})

const MIME_TYPES: Readonly<Record<string, string>> = Object.freeze({
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
  '.pdf': 'application/pdf'
})

/** The Content-Type of a file by its extension; application/octet-stream for anything unknown. */
export function mimeTypeOf (path: string): string {
  const dot = path.lastIndexOf('.')
  const slash = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'))
  if (dot <= slash + 1) return 'application/octet-stream'
  return MIME_TYPES[path.slice(dot).toLowerCase()] ?? 'application/octet-stream'
}

/** Whether a URL is of the app's origin (scheme and host exactly; any path). */
export function isAppUrl (url: string | undefined): boolean {
  if (typeof url !== 'string') return false
  try {
    const u = new URL(url)
    return u.protocol === `${APP_SCHEME}:` && u.host === APP_HOST && u.username === '' && u.password === ''
  } catch {
    return false
  }
}
