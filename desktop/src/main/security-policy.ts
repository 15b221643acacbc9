/**
 * What the window may do, decided here and wired to Electron in electron.ts: it stays on the app's
 * origin, opens no windows of its own (an http(s) link goes to the system browser, once checked), and
 * gets no permission but the camera (video only, for scanning QR codes) from the app's origin.
 */
import { isAppUrl } from './app-scheme.ts'

/** `will-navigate` / `will-redirect`: only within the app's origin. */
export function mayNavigate (url: string): boolean {
  return isAppUrl(url)
}

/**
 * A link the system browser may open: http or https, a host name, no user name or password in it,
 * not the machine itself (the node's API with its token stays inside the app), at most 2048 characters.
 */
export function isSafeExternalUrl (url: string): boolean {
  if (typeof url !== 'string' || url.length > 2048) return false
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return false
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return false
  if (u.username !== '' || u.password !== '' || u.hostname === '') return false
  const host = u.hostname.toLowerCase().replace(/^\[|\]$/g, '')
  if (host === 'localhost' || host.endsWith('.localhost') || /^127\./.test(host) || host === '::1' || host === '0.0.0.0') return false
  return true
}

export type WindowOpenDecision =
  | { action: 'deny' }
  /** Deny the window; hand the link to the system browser. */
  | { action: 'deny', openExternally: string }

/** `setWindowOpenHandler`: never a new Electron window; checked web links open in the system browser. */
export function windowOpenDecision (url: string): WindowOpenDecision {
  return isSafeExternalUrl(url) ? { action: 'deny', openExternally: url } : { action: 'deny' }
}

export interface PermissionRequest {
  permission: string
  /** The URL of the frame asking (Electron's `details.requestingUrl`). */
  requestingUrl: string | undefined
  /** For 'media': what it asks for (Electron's `details.mediaTypes`). */
  mediaTypes?: readonly string[] | undefined
  /** Whether the frame asking is the window's main frame. */
  isMainFrame?: boolean | undefined
}

/** `setPermissionRequestHandler`: the camera alone (no microphone), asked by the app's main frame. */
export function allowPermissionRequest (req: PermissionRequest): boolean {
  if (req.permission !== 'media') return false
  if (!isAppUrl(req.requestingUrl)) return false
  if (req.isMainFrame === false) return false
  const types = req.mediaTypes ?? []
  return types.length > 0 && types.every(t => t === 'video')
}

export interface PermissionCheck {
  permission: string
  /** Electron's `requestingOrigin`. */
  requestingOrigin: string | undefined
  /** For 'media': 'video', 'audio' or 'unknown' (Electron's `details.mediaType`). */
  mediaType?: string | undefined
  isMainFrame?: boolean | undefined
}

/** `setPermissionCheckHandler`: the same rule for the synchronous checks (permissions.query, device lists). */
export function allowPermissionCheck (check: PermissionCheck): boolean {
  return check.permission === 'media' && check.mediaType === 'video' && check.isMainFrame !== false && isAppUrl(check.requestingOrigin)
}

/** IPC: only the app's own page (its main frame) may call the main process. */
export function isTrustedSender (frameUrl: string | undefined, isMainFrame: boolean): boolean {
  return isMainFrame && isAppUrl(frameUrl)
}
