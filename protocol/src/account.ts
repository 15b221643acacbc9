/**
 * Text forms of ids. Accounts are bech32 (`mg1…`): checksummed, case-insensitive, so a label can be
 * printed upper-case for a compact QR code and a mistyped character is caught. A device label's QR
 * code carries a `microgrid:` URI naming the device's account and its grid.
 */
import { bech32 } from '@scure/base'
import { AccountIdError } from './errors.ts'
import type { OpId, PublicKey } from './ops.ts'

export const ACCOUNT_PREFIX = 'mg'
export const GRID_PREFIX = 'mgrid'
export const URI_SCHEME = 'microgrid'

/** An account id as text: bech32 of the 33-byte compressed public key. */
export type AccountId = string & { readonly __accountId: true }
/** A grid id as text: bech32 of the genesis op id. */
export type GridIdText = string & { readonly __gridId: true }

function encode (prefix: string, bytes: Uint8Array): string {
  return bech32.encode(prefix, bech32.toWords(bytes), 200)
}

function decode (prefix: string, text: string, length: number, what: string): Uint8Array {
  if (typeof text !== 'string') throw new AccountIdError(`${what}: expected text, got ${typeof text}`)
  let decoded
  let bytes: Uint8Array
  try {
    decoded = bech32.decode(text.trim() as `${string}1${string}`, 200)
    // fromWords throws on a payload that is not whole bytes (excess or non-zero padding bits)
    bytes = bech32.fromWords(decoded.words)
  } catch (err) {
    throw new AccountIdError(`${what}: ${JSON.stringify(text.slice(0, 80))} is not valid bech32 (${(err as Error).message})`)
  }
  if (decoded.prefix !== prefix) throw new AccountIdError(`${what}: expected the prefix "${prefix}1", got "${decoded.prefix}1"`)
  if (bytes.length !== length) throw new AccountIdError(`${what}: expected ${length} bytes, got ${bytes.length}`)
  return bytes
}

export function accountId (publicKey: PublicKey): AccountId {
  if (publicKey.length !== 33 || (publicKey[0] !== 2 && publicKey[0] !== 3)) {
    throw new AccountIdError(`account key: expected a 33-byte compressed secp256k1 key, got ${publicKey.length} bytes`)
  }
  return encode(ACCOUNT_PREFIX, publicKey) as AccountId
}

export function parseAccountId (text: string): PublicKey {
  const key = decode(ACCOUNT_PREFIX, text, 33, 'account id')
  if (key[0] !== 2 && key[0] !== 3) throw new AccountIdError('account id: not a compressed secp256k1 key')
  return key
}

export function gridIdText (gridId: OpId): GridIdText {
  if (gridId.length !== 32) throw new AccountIdError(`grid id: expected 32 bytes, got ${gridId.length}`)
  return encode(GRID_PREFIX, gridId) as GridIdText
}

export function parseGridId (text: string): OpId {
  return decode(GRID_PREFIX, text, 32, 'grid id')
}

export interface DeviceLink {
  account: PublicKey
  grid: OpId
}

/** The QR payload printed on a device label: `microgrid:<account>?grid=<grid>`. */
export function deviceUri (link: DeviceLink): string {
  return `${URI_SCHEME}:${accountId(link.account)}?grid=${gridIdText(link.grid)}`
}

/**
 * Reads a scanned QR payload. Accepts the `microgrid:` and `web+microgrid:` schemes (the second is what
 * a browser may register a handler for), any letter case, and refuses anything else with the reason.
 */
export function parseDeviceUri (uri: string): DeviceLink {
  if (typeof uri !== 'string' || uri.length > 512) throw new AccountIdError('device link: expected text of at most 512 characters')
  const match = /^(?:web\+)?microgrid:([^?#]+)\?grid=([^&#]+)$/i.exec(uri.trim())
  if (match === null) throw new AccountIdError(`device link: expected "microgrid:<account>?grid=<grid>", got ${JSON.stringify(uri.slice(0, 80))}`)
  return { account: parseAccountId((match[1] as string).toLowerCase()), grid: parseGridId((match[2] as string).toLowerCase()) }
}
