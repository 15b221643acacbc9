/**
 * Adding a peer by hand: a multiaddr typed in, or the text of a QR invite another node shows —
 * `microgrid:invite?grid=<grid id>&addr=<multiaddr>&addr=…` — so a neighbour joins by scanning.
 */
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { gridIdText, parseGridId } from '@microgrid/protocol'

export class InviteError extends TypeError {
  override readonly name = 'InviteError'
}

export interface Invite {
  /** The grid the inviting node serves, when the text says. */
  grid?: Uint8Array
  addrs: Multiaddr[]
}

export function inviteUri (grid: Uint8Array, addrs: readonly Multiaddr[]): string {
  const params = addrs.map(a => `addr=${encodeURIComponent(a.toString())}`).join('&')
  return `microgrid:invite?grid=${gridIdText(grid)}${params.length > 0 ? '&' + params : ''}`
}

export function parseInvite (text: string): Invite {
  if (typeof text !== 'string' || text.length === 0 || text.length > 4096) throw new InviteError('invite: expected a multiaddr or a microgrid:invite link')
  const trimmed = text.trim()
  if (trimmed.startsWith('/')) return { addrs: [toMultiaddr(trimmed)] }
  const match = /^(?:web\+)?microgrid:invite\?(.*)$/i.exec(trimmed)
  if (match === null) throw new InviteError(`invite: expected a multiaddr ("/ip4/…/p2p/…") or "microgrid:invite?…", got ${JSON.stringify(trimmed.slice(0, 60))}`)
  const params = new URLSearchParams(match[1])
  const addrs = params.getAll('addr').map(toMultiaddr)
  if (addrs.length === 0) throw new InviteError('invite: no addr in the link')
  const grid = params.get('grid')
  return grid === null ? { addrs } : { grid: parseGridId(grid), addrs }
}

function toMultiaddr (text: string): Multiaddr {
  let ma: Multiaddr
  try {
    ma = multiaddr(text)
  } catch (err) {
    throw new InviteError(`invite: ${JSON.stringify(text.slice(0, 80))} is not a multiaddr (${(err as Error).message})`)
  }
  if (ma.getComponents().find(c => c.name === 'p2p') === undefined) throw new InviteError(`invite: ${text} does not name a peer (/p2p/<peer id>)`)
  return ma
}
