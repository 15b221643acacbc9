/**
 * The fast path of decodeOp (canonical.ts, `decodeCanonicalOp`) against the full decoder
 * (`decodeOpFully`: DAG-CBOR, the fields, the op encoded again): whatever the bytes, the fast path
 * either declines or returns exactly what the full decoder returns (the same op, id and bytes); it
 * never takes bytes the full decoder refuses. And it takes every valid op.
 */
import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeCanonicalOp, decodeOpFully } from '../src/codec.ts'
import { encodeSignedOp, OpDecodeError, signOp, toHex, type DecodedOp, type UnsignedOp } from '../src/index.ts'
import * as cbor from './helpers/cbor.ts'
import { allPaths, party, scenario, setPath, signedValue } from './helpers/fixtures.ts'

const samples = scenario().samples

function full (bytes: Uint8Array): DecodedOp | OpDecodeError {
  try {
    return decodeOpFully(bytes)
  } catch (err) {
    if (err instanceof OpDecodeError) return err
    throw err
  }
}

/** The fast path declines, or agrees with the full decoder exactly. */
function agrees (bytes: Uint8Array): boolean {
  const fast = decodeCanonicalOp(bytes)
  if (fast === undefined) return false
  const slow = full(bytes)
  if (slow instanceof OpDecodeError) throw new Error(`the fast path took bytes the full decoder refuses (${slow.message}): ${toHex(bytes)}`)
  expect(fast.op).toEqual(slow.op)
  expect(toHex(fast.id)).toBe(toHex(slow.id))
  expect(toHex(fast.bytes)).toBe(toHex(bytes))
  expect(toHex(encodeSignedOp(fast.op))).toBe(toHex(bytes))
  return true
}

describe('the canonical fast path of decodeOp', () => {
  it('takes every sample op, v1 and v2, and gives what the full decoder gives', () => {
    expect(samples.length).toBeGreaterThan(10)
    for (const s of samples) expect(agrees(s.bytes), s.name).toBe(true)
  })

  it('gives plain Uint8Arrays, views of bytes the op owns: never of a larger message it came in, also from a Buffer', () => {
    const s = samples[0]!
    // A Buffer this small is a view of Node's shared pool: the op's bytes are copied out of it.
    const pooled = Buffer.from(s.bytes)
    expect(pooled.byteLength).toBeLessThan(pooled.buffer.byteLength)
    const fromBuffer = decodeCanonicalOp(pooled)!
    expect(fromBuffer.op.author.constructor).toBe(Uint8Array)
    expect(fromBuffer.op.sig.constructor).toBe(Uint8Array)
    expect(fromBuffer.op.author.buffer).not.toBe(pooled.buffer)
    expect(fromBuffer.op.author.buffer).toBe(fromBuffer.bytes.buffer)
    expect(fromBuffer.bytes.byteLength).toBe(fromBuffer.bytes.buffer.byteLength)
    expect(fromBuffer.op).toEqual((full(s.bytes) as DecodedOp).op)
    // An op in a message of several: a copy of its own bytes, the message is not held.
    const message = new Uint8Array(s.bytes.length + 10)
    message.set(s.bytes, 5)
    const inMessage = decodeCanonicalOp(message.subarray(5, 5 + s.bytes.length))!
    expect(inMessage.bytes.buffer).not.toBe(message.buffer)
    expect(inMessage.op.sig.buffer).toBe(inMessage.bytes.buffer)
    // Bytes of its own already: taken as they are, no copy.
    const own = s.bytes.slice()
    const taken = decodeCanonicalOp(own)!
    expect(taken.bytes).toBe(own)
    expect(taken.op.prev?.buffer ?? taken.op.author.buffer).toBe(own.buffer)
  })

  it('every single-byte change of every sample: declines or agrees', () => {
    let taken = 0
    for (const s of samples) {
      for (let pos = 0; pos < s.bytes.length; pos++) {
        for (const delta of [1, 0x80]) {
          const bad = s.bytes.slice()
          bad[pos] = ((bad[pos] as number) + delta) & 0xff
          if (agrees(bad)) taken++
        }
      }
    }
    expect(taken).toBeGreaterThan(0) // some changes (in values) are still valid ops
  })

  it('random mutations (set, insert, delete, truncate) of the samples: declines or agrees', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: samples.length - 1 }), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 3 }),
      (i, p, byte, how) => {
        const src = samples[i]!.bytes
        const pos = p % src.length
        const bad = how === 0
          ? (() => { const b = src.slice(); b[pos] = byte; return b })()
          : how === 1 ? cbor.concat(src.subarray(0, pos), Uint8Array.of(byte), src.subarray(pos))
            : how === 2 ? cbor.concat(src.subarray(0, pos), src.subarray(pos + 1)) : src.subarray(0, pos)
        agrees(bad)
      }
    ), { numRuns: 3000 })
  })

  it('one field replaced by any CBOR value, in canonical and other encodings: declines or agrees', () => {
    const anyValue = fc.oneof(
      fc.integer(), fc.maxSafeInteger(), fc.double(), fc.string(), fc.string({ unit: 'binary' }), fc.constant(null), fc.boolean(),
      fc.uint8Array({ maxLength: 40 }), fc.array(fc.integer(), { maxLength: 3 }), fc.constant(undefined)
    )
    fc.assert(fc.property(fc.integer({ min: 0, max: samples.length - 1 }), fc.nat(), anyValue, (i, p, v) => {
      const s = samples[i]!
      const value = signedValue(s)
      const paths = allPaths(value)
      const path = paths[p % paths.length]!
      const changed = setPath(value, path, v)
      for (const encode of [cbor.encodeCanonical, dagCbor.encode]) {
        let bytes: Uint8Array
        try {
          bytes = encode(changed)
        } catch {
          continue // not encodable this way (a float, a boolean, undefined)
        }
        agrees(bytes)
      }
    }), { numRuns: 3000 })
  })

  it('non-canonical forms of a valid op are declined: long heads, unsorted and repeated keys, a BOM', () => {
    const s = samples.find(x => x.name.includes('register-utility'))!
    const value = signedValue(s)
    const entries = cbor.entriesOf(value)
    expect(agrees(cbor.map(entries, 1))).toBe(false) // a one-byte-longer map head
    expect(agrees(cbor.indefiniteMap(entries))).toBe(false)
    expect(agrees(cbor.map([...entries].reverse()))).toBe(false)
    expect(agrees(cbor.map([entries[0]!, ...entries]))).toBe(false)
    // a label with a leading byte order mark: valid UTF-8, but not the label a decoder reads back
    const label = cbor.concat(cbor.head(3, 3 + 4), Uint8Array.of(0xef, 0xbb, 0xbf), new TextEncoder().encode('Util'))
    expect(agrees(cbor.encodeCanonical(value, { path: ['body', 'label'], bytes: label }))).toBe(false)
  })

  it('a non-ASCII label that round-trips is taken', () => {
    const s = samples.find(x => x.name.includes('register-utility'))!
    const { sig: _sig, ...op } = s.op as UnsignedOp & { sig?: Uint8Array }
    const unsigned = { ...op, body: { ...op.body, label: 'Électricité de l’Île 🌴' } } as UnsignedOp
    const signed = signOp(unsigned, party('registrar', 0x01).secretKey)
    expect(agrees(signed.bytes)).toBe(true)
  })
})
