/**
 * A tiny raw CBOR writer for tests: it writes exactly the bytes asked for, including the
 * non-canonical forms (long integer heads, floats, indefinite lengths, duplicate or unsorted keys)
 * that the protocol must refuse. Canonical sub-values come from @ipld/dag-cbor itself.
 */
import * as dagCbor from '@ipld/dag-cbor'

export type Width = 0 | 1 | 2 | 4 | 8

export function concat (...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let pos = 0
  for (const p of parts) {
    out.set(p, pos)
    pos += p.length
  }
  return out
}

function minimalWidth (n: bigint): Width {
  if (n < 24n) return 0
  if (n < 0x100n) return 1
  if (n < 0x10000n) return 2
  if (n < 0x100000000n) return 4
  return 8
}

/** A major type and its argument; `width` forces the argument's size (0 = in the initial byte). */
export function head (major: number, n: number | bigint, width?: Width): Uint8Array {
  const value = BigInt(n)
  const w = width ?? minimalWidth(value)
  if (w === 0) return Uint8Array.of((major << 5) | Number(value))
  const info = { 1: 24, 2: 25, 4: 26, 8: 27 }[w]
  const out = new Uint8Array(1 + w)
  out[0] = (major << 5) | info
  for (let i = 0; i < w; i++) out[w - i] = Number((value >> BigInt(8 * i)) & 0xffn)
  return out
}

export const uint = (n: number | bigint, width?: Width): Uint8Array => head(0, n, width)
/** A negative integer n (< 0) as major type 1. */
export const nint = (n: number | bigint, width?: Width): Uint8Array => head(1, -1n - BigInt(n), width)
export const bstr = (b: Uint8Array, width?: Width): Uint8Array => concat(head(2, b.length, width), b)
export const tstr = (s: string, width?: Width): Uint8Array => {
  const b = new TextEncoder().encode(s)
  return concat(head(3, b.length, width), b)
}
export const array = (items: Uint8Array[], width?: Width): Uint8Array => concat(head(4, items.length, width), ...items)
/** A map with exactly these entries, in exactly this order (keys are text). */
export const map = (entries: Array<[string, Uint8Array]>, width?: Width): Uint8Array =>
  concat(head(5, entries.length, width), ...entries.flatMap(([k, v]) => [tstr(k), v]))
export const tag = (n: number, item: Uint8Array): Uint8Array => concat(head(6, n), item)

export const FALSE = Uint8Array.of(0xf4)
export const TRUE = Uint8Array.of(0xf5)
export const NULL = Uint8Array.of(0xf6)
export const UNDEFINED = Uint8Array.of(0xf7)
const BREAK = Uint8Array.of(0xff)

export function float64 (x: number): Uint8Array {
  const out = new Uint8Array(9)
  out[0] = 0xfb
  new DataView(out.buffer).setFloat64(1, x)
  return out
}

export function float32 (x: number): Uint8Array {
  const out = new Uint8Array(5)
  out[0] = 0xfa
  new DataView(out.buffer).setFloat32(1, x)
  return out
}

export const indefiniteMap = (entries: Array<[string, Uint8Array]>): Uint8Array =>
  concat(Uint8Array.of(0xbf), ...entries.flatMap(([k, v]) => [tstr(k), v]), BREAK)
export const indefiniteArray = (items: Uint8Array[]): Uint8Array => concat(Uint8Array.of(0x9f), ...items, BREAK)
export const indefiniteBytes = (chunks: Uint8Array[]): Uint8Array => concat(Uint8Array.of(0x5f), ...chunks.map(c => bstr(c)), BREAK)
export const indefiniteText = (chunks: string[]): Uint8Array => concat(Uint8Array.of(0x7f), ...chunks.map(c => tstr(c)), BREAK)

/** Canonical DAG-CBOR map key order: shorter key first, then bytewise. */
export function canonicalKeyOrder (a: string, b: string): number {
  const x = new TextEncoder().encode(a)
  const y = new TextEncoder().encode(b)
  if (x.length !== y.length) return x.length - y.length
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return (x[i] as number) - (y[i] as number)
  return 0
}

/** The entries of a map value, each value canonically encoded, in canonical key order. */
export function entriesOf (value: object): Array<[string, Uint8Array]> {
  return Object.entries(value)
    .sort(([a], [b]) => canonicalKeyOrder(a, b))
    .map(([k, v]) => [k, dagCbor.encode(v)])
}

/** Replaces the encoded value of one entry, keeping the order. */
export function withEntry (entries: Array<[string, Uint8Array]>, key: string, value: Uint8Array): Array<[string, Uint8Array]> {
  if (!entries.some(([k]) => k === key)) throw new Error(`no entry ${key}`)
  return entries.map(([k, v]) => [k, k === key ? value : v])
}

/**
 * An independent canonical encoder for the values ops are made of (maps with text keys, arrays,
 * byte strings, text, safe integers, null), written from the rules in PROTOCOL.md rather than with
 * @ipld/dag-cbor. `override` swaps in raw bytes for the value at one path, e.g. a non-minimal integer.
 */
export function encodeCanonical (value: unknown, override?: { path: Array<string | number>, bytes: Uint8Array }, at: Array<string | number> = []): Uint8Array {
  if (override !== undefined && override.path.length === at.length && override.path.every((p, i) => p === at[i])) return override.bytes
  if (value === null) return NULL
  if (value instanceof Uint8Array) return bstr(value)
  if (typeof value === 'string') return tstr(value)
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error(`not an integer: ${value}`)
    return value >= 0 ? uint(value) : nint(value)
  }
  if (Array.isArray(value)) return array(value.map((v, i) => encodeCanonical(v, override, [...at, i])))
  if (typeof value === 'object') {
    return map(Object.entries(value)
      .sort(([a], [b]) => canonicalKeyOrder(a, b))
      .map(([k, v]) => [k, encodeCanonical(v, override, [...at, k])]))
  }
  throw new Error(`cannot encode ${typeof value}`)
}
