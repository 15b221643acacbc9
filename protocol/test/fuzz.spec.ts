/**
 * Property tests. Whatever bytes a peer sends, decodeOp either returns an op whose canonical
 * encoding is exactly those bytes, or throws an OpDecodeError; nothing else, and never slowly. A
 * valid op that is changed in any way and still decodes no longer verifies: a signature covers
 * every byte that matters.
 */
import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  bytesEqual, CONTRACTS, decodeOp, decodeSignedOp, decodeUnsignedOp, DEVICE_CATEGORIES, encodeSignedOp, LIMITS,
  nobleVerifier, OP_KINDS, OP_KINDS_OF_VERSION, OpDecodeError, PROTOCOL_VERSIONS, SignatureError, signOp, toHex, verifyOp,
  type DecodedOp, type OpKind, type ProtocolVersion, type UnsignedOp
} from '../src/index.ts'
import * as cbor from './helpers/cbor.ts'
import { allPaths, party, scenario, setPath, signedValue, type Path, type Sample } from './helpers/fixtures.ts'

const samples = scenario().samples
const RUNS = 2000

let slowest = 0
/** decodeOp, timed; any error other than OpDecodeError fails the property. */
function tryDecode (bytes: Uint8Array): DecodedOp | OpDecodeError {
  const start = performance.now()
  try {
    return decodeOp(bytes)
  } catch (err) {
    if (err instanceof OpDecodeError) return err
    throw new Error(`decodeOp threw ${String(err)} for ${toHex(bytes)}`)
  } finally {
    slowest = Math.max(slowest, performance.now() - start)
  }
}

/** What a decoded op must satisfy: its canonical encoding is exactly the input. */
function expectCanonical (decoded: DecodedOp, bytes: Uint8Array): void {
  expect(toHex(encodeSignedOp(decoded.op))).toBe(toHex(bytes))
  expect(toHex(decoded.bytes)).toBe(toHex(bytes))
}

/** Verifies iff unchanged: a decodable mutation of `original` must fail verification. */
function expectVerifiesIffUnchanged (decoded: DecodedOp, original: Sample): void {
  const unchanged = bytesEqual(decoded.bytes, original.bytes)
  expect(nobleVerifier.verify(decoded.op.sig, decoded.id, decoded.op.author)).toBe(unchanged)
  if (unchanged) verifyOp(decoded)
  else expect(() => verifyOp(decoded)).toThrow(SignatureError)
}

type Mutation =
  | { type: 'flip', pos: number, bit: number }
  | { type: 'set', pos: number, byte: number }
  | { type: 'insert', pos: number, byte: number }
  | { type: 'delete', pos: number }
  | { type: 'truncate', pos: number }
  | { type: 'duplicate', pos: number, len: number }

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { arbitrary: fc.record({ type: fc.constant('flip' as const), pos: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }), weight: 4 },
  { arbitrary: fc.record({ type: fc.constant('set' as const), pos: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), weight: 2 },
  { arbitrary: fc.record({ type: fc.constant('insert' as const), pos: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), weight: 1 },
  { arbitrary: fc.record({ type: fc.constant('delete' as const), pos: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ type: fc.constant('truncate' as const), pos: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ type: fc.constant('duplicate' as const), pos: fc.nat(), len: fc.integer({ min: 1, max: 40 }) }), weight: 1 }
)

function mutate (bytes: Uint8Array, mutations: Mutation[]): Uint8Array {
  let out: Uint8Array = Uint8Array.from(bytes)
  for (const m of mutations) {
    const pos = out.length === 0 ? 0 : m.pos % out.length
    switch (m.type) {
      case 'flip': if (out.length > 0) out[pos] = (out[pos] as number) ^ (1 << m.bit); break
      case 'set': if (out.length > 0) out[pos] = m.byte; break
      case 'insert': out = cbor.concat(out.subarray(0, pos), Uint8Array.of(m.byte), out.subarray(pos)); break
      case 'delete': out = cbor.concat(out.subarray(0, pos), out.subarray(pos + 1)); break
      case 'truncate': out = out.slice(0, pos); break
      case 'duplicate': out = cbor.concat(out.subarray(0, pos + m.len), out.subarray(pos)); break
    }
  }
  return out
}

const sampleArb = fc.integer({ min: 0, max: samples.length - 1 }).map(i => samples[i] as Sample)

describe('decodeOp on hostile bytes', () => {
  it(`random bytes: decoded and canonical, or OpDecodeError (${RUNS} runs)`, () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), bytes => {
      const result = tryDecode(bytes)
      if (!(result instanceof OpDecodeError)) expectCanonical(result, bytes)
    }), { numRuns: RUNS })
  })

  it(`a valid op's prefix with random bytes after it (${RUNS} runs)`, () => {
    fc.assert(fc.property(sampleArb, fc.nat(), fc.uint8Array({ maxLength: 80 }), (s, cut, tail) => {
      const bytes = cbor.concat(s.bytes.subarray(0, cut % (s.bytes.length + 1)), tail)
      const result = tryDecode(bytes)
      if (!(result instanceof OpDecodeError)) {
        expectCanonical(result, bytes)
        expectVerifiesIffUnchanged(result, s)
      }
    }), { numRuns: RUNS })
  })

  it(`mutated valid ops (bit flips, byte sets, inserts, deletes, truncation, duplication): canonical or refused, and verify iff unchanged (${RUNS} runs)`, () => {
    let decodedChanged = 0
    fc.assert(fc.property(sampleArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (s, mutations) => {
      const bytes = mutate(s.bytes, mutations)
      const result = tryDecode(bytes)
      if (result instanceof OpDecodeError) return
      expectCanonical(result, bytes)
      expectVerifiesIffUnchanged(result, s)
      if (!bytesEqual(bytes, s.bytes)) decodedChanged++
    }), { numRuns: RUNS })
    // the property is not vacuous: many mutants were well-formed ops with a wrong signature
    expect(decodedChanged).toBeGreaterThan(RUNS / 10)
  })

  it('a bit flip in every byte of the samples of each shape, v1 and v2: each one is refused or fails to verify', () => {
    let decodable = 0
    // one bit per byte (a different one each time) on a sample of each shape keeps this to a few
    // seconds of verification; the random test above covers the rest
    const shapes = samples.filter(x => /-(genesis|register-consumer|mint|transfer-wholesale-seller|beacon)$/.test(x.name))
    expect(shapes.map(x => x.name)).toEqual(['01-genesis', '04-register-consumer', '08-mint', '10-transfer-wholesale-seller', '17-v2-beacon', '18-v2-mint', '19-v2-genesis'])
    for (const s of shapes) {
      for (let pos = 0; pos < s.bytes.length; pos++) {
        for (const bit of [pos % 8]) {
          const bytes = mutate(s.bytes, [{ type: 'flip', pos, bit }])
          const result = tryDecode(bytes)
          if (result instanceof OpDecodeError) continue
          decodable++
          expectCanonical(result, bytes)
          expect(nobleVerifier.verify(result.op.sig, result.id, result.op.author), `${s.name} byte ${pos} bit ${bit}`).toBe(false)
        }
      }
    }
    expect(decodable).toBeGreaterThan(500)
  })

  it('no decode is slow', () => {
    // every decode above ran on at most a few kilobytes; none may take long
    expect(slowest).toBeLessThan(250)
  })
})

/** Any value the DAG-CBOR data model has, with a bias towards what op fields look like. */
const { value: dagValue } = fc.letrec<{ value: unknown }>(tie => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 3 },
    fc.integer({ min: -3, max: 30 }),
    fc.maxSafeInteger(),
    fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n - 1n }),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ maxLength: 12 }),
    fc.constantFrom(...OP_KINDS, ...CONTRACTS, ...DEVICE_CATEGORIES, 'producer', 'consumer', 'utility', 'USD', '', 'v'),
    fc.uint8Array({ maxLength: 70 }),
    fc.constantFrom(32, 33, 64).chain(n => fc.uint8Array({ minLength: n, maxLength: n })).map(b => { if (b.length === 33) b[0] = 2 + (b[1] as number) % 2; return b }),
    fc.constant(null),
    fc.boolean(),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom('v', 'wh', 'total', 'from', 'until', 'role', 'x', '', 'friendlyCreditHours', 'beaconIntervalMs', 'mintSlackMs'), tie('value'), { maxKeys: 4 })
  )
}))

const pathArb = (s: Sample): fc.Arbitrary<Path> => fc.constantFrom<Path>(
  ...allPaths(signedValue(s)), ['sig'], ['extra'], ['body', 'extra'],
  ...(s.op.kind === 'genesis' ? [['body', 'policy', 'beaconIntervalMs'], ['body', 'policy', 'mintSlackMs']] : [])
)

describe('decodeOp on well-formed CBOR of the wrong shape', () => {
  it(`one field of a valid op replaced by any value: canonical or refused, and verify iff unchanged (${RUNS} runs)`, () => {
    let decodedChanged = 0
    fc.assert(fc.property(sampleArb.chain(s => fc.tuple(fc.constant(s), pathArb(s), dagValue)), ([s, path, value]) => {
      let bytes: Uint8Array
      try {
        bytes = dagCbor.encode(setPath(signedValue(s), path, value))
      } catch {
        return // not in the data model (e.g. -0 is fine, but a lone surrogate key is not); nothing to send
      }
      const result = tryDecode(bytes)
      if (result instanceof OpDecodeError) {
        expect(result.field.startsWith('op')).toBe(true)
        return
      }
      expectCanonical(result, bytes)
      expectVerifiesIffUnchanged(result, s)
      if (!bytesEqual(bytes, s.bytes)) decodedChanged++
    }), { numRuns: RUNS })
    expect(decodedChanged).toBeGreaterThan(RUNS / 50)
  })

  it(`any JS value given to decodeSignedOp / decodeUnsignedOp: a value or an OpDecodeError (${RUNS} runs)`, () => {
    const anything = fc.anything({ withBigInt: true, withNullPrototype: true, withTypedArray: true, withBoxedValues: true, withMap: true, withSet: true, withDate: true, withSparseArray: true, maxDepth: 3 })
    const shaped = sampleArb.chain(s => fc.tuple(pathArb(s), anything).map(([path, v]) => setPath(signedValue(s), path, v)))
    fc.assert(fc.property(fc.oneof(anything, shaped), value => {
      for (const decode of [decodeSignedOp, decodeUnsignedOp]) {
        try {
          decode(value)
        } catch (err) {
          if (!(err instanceof OpDecodeError)) throw new Error(`${decode.name} threw ${String(err)}`)
        }
      }
    }), { numRuns: RUNS })
  })
})

// ---- valid ops of every kind, generated -------------------------------------------------------

const pool = Array.from({ length: 8 }, (_, i) => party(`p${i}`, 0x21 + i))
const keyArb = fc.integer({ min: 0, max: pool.length - 1 }).map(i => (pool[i] as typeof pool[number]).publicKey)
const bytesArb = (n: number) => fc.uint8Array({ minLength: n, maxLength: n })
const textArb = (maxBytes: number) => fc.string({ unit: 'grapheme', minLength: 1, maxLength: 24 })
  .filter(t => !/[\p{Cc}\p{Cs}]/u.test(t) && new TextEncoder().encode(t).length <= maxBytes)
const positiveArb = fc.oneof(fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }))
const sortedKeysArb = fc.uniqueArray(fc.integer({ min: 0, max: pool.length - 1 }), { minLength: 1, maxLength: pool.length })
  .map(ix => ix.map(i => (pool[i] as typeof pool[number]).publicKey).sort(Buffer.compare))
const distinctPair = fc.uniqueArray(fc.integer({ min: 0, max: pool.length - 1 }), { minLength: 2, maxLength: 2 })
  .map(ix => ix.map(i => (pool[i] as typeof pool[number]).publicKey) as [Uint8Array, Uint8Array])

const hoursArb = fc.uniqueArray(fc.integer({ min: 0, max: 23 }), { maxLength: 24 }).map(h => h.sort((a, b) => a - b))
/** A genesis policy of each version: v1 is exactly { friendlyCreditHours }, v2 adds the beacon fields. */
const policyArb: Record<ProtocolVersion, fc.Arbitrary<unknown>> = {
  1: fc.record({ friendlyCreditHours: hoursArb }),
  2: fc.record({
    friendlyCreditHours: hoursArb,
    beaconIntervalMs: fc.oneof(fc.constant(1000), fc.integer({ min: 1000, max: 86_400_000 }), fc.integer({ min: 1000, max: Number.MAX_SAFE_INTEGER })),
    mintSlackMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 86_400_000 }), fc.maxSafeNat())
  })
}

const bodyArb = (v: ProtocolVersion): { [K in OpKind]: fc.Arbitrary<unknown> } => ({
  genesis: fc.record({
    name: textArb(LIMITS.maxNameBytes),
    currency: fc.constantFrom('USD', 'EUR', 'KES', 'INR'),
    registrars: sortedKeysArb,
    oracles: sortedKeysArb,
    policy: policyArb[v]
  }),
  register: fc.oneof(
    fc.tuple(distinctPair, positiveArb, textArb(LIMITS.maxLabelBytes)).map(([[account, meter], capacityW, label]) => ({ role: 'producer', account, meter, capacityW, label })),
    fc.record({
      role: fc.constant('consumer'),
      meter: keyArb,
      label: textArb(LIMITS.maxLabelBytes),
      category: fc.constantFrom(...DEVICE_CATEGORIES),
      position: fc.option(fc.tuple(fc.integer({ min: -90_000_000, max: 90_000_000 }), fc.integer({ min: -180_000_000, max: 180_000_000 })))
    }),
    fc.record({ role: fc.constant('utility'), account: keyArb, label: textArb(LIMITS.maxLabelBytes) })
  ),
  price: fc.tuple(fc.option(positiveArb), fc.option(positiveArb)).filter(([w, r]) => w !== null || r !== null).map(([wholesale, retail]) => ({ wholesale, retail })),
  mint: fc.record({ wh: positiveArb, total: positiveArb }),
  burn: fc.record({ wh: positiveArb, total: positiveArb }),
  receipt: fc.tuple(distinctPair, fc.constantFrom('wholesale-seller', 'retail-seller'), positiveArb, textArb(LIMITS.maxPaymentIdBytes))
    .map(([[payer, payee], contract, amount, paymentId]) => ({ payer, payee, contract, amount, currency: 'USD', paymentId })),
  transfer: fc.oneof(
    fc.record({ contract: fc.constantFrom('wholesale-seller', 'retail-seller'), to: keyArb, wh: positiveArb, receipt: fc.tuple(keyArb, fc.maxSafeNat()), window: fc.constant(null) }),
    fc.record({
      contract: fc.constant('resident'), to: keyArb, wh: positiveArb, receipt: fc.constant(null),
      window: fc.option(fc.tuple(fc.maxSafeNat(), fc.maxSafeNat()).filter(([a, b]) => a !== b).map(([a, b]) => ({ from: Math.min(a, b), until: Math.max(a, b) })))
    })
  ),
  unfreeze: fc.record({ account: keyArb, seq: fc.maxSafeNat() }),
  beacon: fc.constant({})
})
const bodiesOf = { 1: bodyArb(1), 2: bodyArb(2) } as const

/** A version and a kind that version has: beacon only in v2. */
const versionKindArb = fc.constantFrom(...PROTOCOL_VERSIONS).chain(v => fc.tuple(fc.constant(v), fc.constantFrom(...OP_KINDS_OF_VERSION[v])))

const validOpArb = versionKindArb.chain(([v, kind]) => fc.record({
  v: fc.constant(v),
  kind: fc.constant(kind),
  signer: fc.integer({ min: 0, max: pool.length - 1 }),
  seq: kind === 'genesis' ? fc.constant(0) : fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1000 }), fc.maxSafeNat()),
  grid: bytesArb(32),
  prev: bytesArb(32),
  deps: fc.uniqueArray(fc.integer({ min: 0, max: pool.length - 1 }), { maxLength: pool.length }),
  depSeqs: fc.array(fc.maxSafeNat(), { minLength: pool.length, maxLength: pool.length }),
  ts: fc.maxSafeNat(),
  body: bodiesOf[v][kind]
})).map(r => {
  const signer = pool[r.signer] as typeof pool[number]
  const op = {
    v: r.v,
    grid: r.kind === 'genesis' ? null : r.grid,
    kind: r.kind,
    author: signer.publicKey,
    seq: r.seq,
    prev: r.seq === 0 ? null : r.prev,
    deps: r.deps.filter(i => i !== r.signer).map(i => [(pool[i] as typeof pool[number]).publicKey, r.depSeqs[i] as number] as const)
      .sort((a, b) => Buffer.compare(a[0], b[0])),
    ts: r.ts,
    body: r.body
  } as UnsignedOp
  return { op, signer }
})

describe('generated valid ops of every kind', () => {
  it('sign, decode to the same op of the same version, re-encode to the same bytes, match the independent encoder, and verify (600 runs)', () => {
    const seen = new Set<string>()
    fc.assert(fc.property(validOpArb, ({ op, signer }) => {
      seen.add(`v${op.v} ${op.kind}`)
      const signed = signOp(op, signer.secretKey)
      const decoded = decodeOp(signed.bytes)
      expect(decoded.op).toEqual(signed.op)
      expect(decoded.op.v).toBe(op.v)
      expectCanonical(decoded, signed.bytes)
      expect(toHex(cbor.encodeCanonical(signed.op))).toBe(toHex(signed.bytes))
      verifyOp(decoded)
    }), { numRuns: 600 })
    // every kind of every version: 8 kinds in v1, 9 in v2
    expect(seen).toEqual(new Set(PROTOCOL_VERSIONS.flatMap(v => OP_KINDS_OF_VERSION[v].map(k => `v${v} ${k}`))))
    expect(seen.size).toBe(OP_KINDS.length * 2 - 1)
  })

  it('a generated op with its version switched is refused exactly where the versions differ, or is another op (300 runs)', () => {
    fc.assert(fc.property(validOpArb, ({ op, signer }) => {
      const other = (op.v === 1 ? 2 : 1) as ProtocolVersion
      const switched = { ...op, v: other } as UnsignedOp
      const { bytes, id } = signOp(op, signer.secretKey)
      let result: DecodedOp | OpDecodeError
      try {
        result = decodeOp(signOp(switched, signer.secretKey).bytes)
      } catch (err) {
        if (!(err instanceof OpDecodeError)) throw err
        result = err
      }
      if (op.kind === 'beacon') {
        expect(result).toBeInstanceOf(OpDecodeError)
        expect((result as OpDecodeError).field).toBe('op.kind')
      } else if (op.kind === 'genesis') {
        expect(result).toBeInstanceOf(OpDecodeError)
        // a v1 genesis must not have the beacon fields, a v2 genesis must
        expect((result as OpDecodeError).field).toBe('op.body.policy.beaconIntervalMs')
        expect((result as OpDecodeError).message).toMatch(other === 1 ? /new in v2/ : /a value/)
      } else {
        const decoded = result as DecodedOp
        expect(decoded.op.v).toBe(other)
        expect(toHex(decoded.id)).not.toBe(toHex(id))
        expect(decoded.bytes.length).toBe(bytes.length)
      }
    }), { numRuns: 300 })
  })

  it('a generated op signed by another key never verifies (100 runs)', () => {
    fc.assert(fc.property(validOpArb, fc.integer({ min: 1, max: pool.length - 1 }), ({ op, signer }, shift) => {
      const other = pool[(pool.indexOf(signer) + shift) % pool.length] as typeof pool[number]
      const signed = signOp({ ...op, author: other.publicKey, deps: op.deps.filter(d => !bytesEqual(d[0], other.publicKey)) } as UnsignedOp, other.secretKey)
      const forged = dagCbor.encode({ ...signed.op, author: signer.publicKey, deps: op.deps })
      const result = tryDecode(forged)
      if (result instanceof OpDecodeError) throw result
      expect(() => verifyOp(result)).toThrow(SignatureError)
    }), { numRuns: 100 })
  })
})
