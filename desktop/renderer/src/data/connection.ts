// Where the node's API is and the token it wants: from the desktop app's preload, else the page's own
// origin with the token handed over once in the URL fragment (`#token=…`) and kept in localStorage.

export interface Connection { url: string, token: string }

declare global {
  interface Window {
    microgrid?: { connection: () => Connection | Promise<Connection> }
  }
}

const TOKEN_KEY = 'microgrid.token'
const TOKEN_IN_FRAGMENT = /(^#|[#?&])token=([^&]*)/

let current: Promise<Connection> | undefined

/** Takes `token=` out of the fragment (keeping the route part), stores it, and returns it. */
export function takeTokenFromFragment (win: Window = window): string | null {
  const hash = win.location.hash
  const match = TOKEN_IN_FRAGMENT.exec(hash)
  if (match === null) return null
  const token = decodeURIComponent(match[2] ?? '')
  let rest = hash.replace(TOKEN_IN_FRAGMENT, (_all, lead: string) => lead === '&' ? '' : lead)
  rest = rest.replace(/[?&]$/, '').replace(/^#[?&]/, '#')
  if (rest === '#') rest = ''
  win.history.replaceState(win.history.state, '', win.location.pathname + win.location.search + rest)
  if (token !== '') win.localStorage.setItem(TOKEN_KEY, token)
  return token === '' ? null : token
}

async function resolve (win: Window): Promise<Connection> {
  if (win.microgrid !== undefined) return await win.microgrid.connection()
  const token = takeTokenFromFragment(win) ?? win.localStorage.getItem(TOKEN_KEY) ?? ''
  return { url: win.location.origin, token }
}

/** The node connection, resolved once per page; a failed answer is not kept (the next call asks again). */
export async function connection (): Promise<Connection> {
  if (current === undefined) {
    const asked = resolve(window)
    current = asked
    asked.catch(() => { if (current === asked) current = undefined })
  }
  return await current
}

/** Sets the connection (tests; the desktop app's preload is read through connection()). */
export function setConnection (value: Connection): void {
  current = Promise.resolve(value)
}
