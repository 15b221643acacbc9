/** Byte helpers shared by the wire format. Hex is lower-case, without a prefix. */
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js'

/** Node's Buffer where present: native hex encoding, on the hot path of every op applied. */
const NodeBuffer = (globalThis as { Buffer?: { from: (b: ArrayBufferLike, offset: number, length: number) => { toString: (enc: string) => string } } }).Buffer

export function toHex (bytes: Uint8Array): string {
  if (NodeBuffer !== undefined) return NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
  return bytesToHex(bytes)
}

export function fromHex (hex: string): Uint8Array {
  if (typeof hex !== 'string' || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new TypeError(`expected an even-length hex string, got ${JSON.stringify(String(hex).slice(0, 80))}`)
  }
  return hexToBytes(hex)
}

export function bytesEqual (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Lexicographic byte order, shorter first on a common prefix: the order of deps and key lists. */
export function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number)
    if (d !== 0) return d
  }
  return a.length - b.length
}
