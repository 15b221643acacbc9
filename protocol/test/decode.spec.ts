/**
 * Strict decoding. A peer believes nothing it cannot decode exactly: every field of every kind is
 * checked for type, size and range, unknown fields, kinds and versions are refused, and an op has one
 * byte form only. Each failure is an OpDecodeError naming the field path and what was expected.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { describe, expect, it } from 'vitest'
import {
  decodeOp, decodeSignedOp, decodeUnsignedOp, DEFAULT_BEACON_INTERVAL_MS, DEFAULT_MINT_SLACK_MS, encodeSignedOp, fromHex,
  isLowSCompact, keySigner, LIMITS, MIN_BEACON_INTERVAL_MS, nobleVerifier, OP_KINDS_OF_VERSION, OpDecodeError, opId,
  policyOf, PROTOCOL_VERSION, PROTOCOL_VERSIONS, SignatureError, signOp, toHex, verifyOp, type BeaconBody, type GenesisBody,
  type GridPolicy, type UnsignedOp, type UnsignedOpOf
} from '../src/index.ts'
import * as cbor from './helpers/cbor.ts'
import {
  allPaths, DELETE, device, forceSign, getPath, meter, oracle, party, pathText, producer, registrar, sample,
  scenario, setPath, signedValue, stranger, utility, type Path, type Sample
} from './helpers/fixtures.ts'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any

function decodeErrorOf (fn: () => unknown): OpDecodeError {
  try {
    fn()
  } catch (err) {
    if (err instanceof OpDecodeError) return err
    throw new Error(`expected an OpDecodeError, got ${String(err)}`)
  }
  throw new Error('expected an OpDecodeError, but nothing was thrown')
}

function expectDecodeError (fn: () => unknown, field: string, expected?: RegExp, label = ''): OpDecodeError {
  const err = decodeErrorOf(fn)
  expect(err.field, `${label} (${err.message})`).toBe(field)
  expect(err.message.startsWith(`${field}: expected `), label).toBe(true)
  if (expected !== undefined) expect(err.message, label).toMatch(expected)
  return err
}

const samples = scenario().samples
const grid = scenario().grid
const key = (byte: number): Uint8Array => party('k', byte).publicKey

describe('valid ops', () => {
  it.each(samples.map(s => [s.name, s] as const))('%s decodes to the op it was made from', (_name, s) => {
    const decoded = decodeOp(s.bytes)
    expect(decoded.op).toEqual(signedValue(s))
    expect(toHex(decoded.id)).toBe(toHex(s.id))
    expect(decodeUnsignedOp(s.op)).toEqual(s.op)
    expect(decodeSignedOp(signedValue(s))).toEqual(signedValue(s))
  })
})

describe('versions: a v1 op decodes as v1, a writer writes v2', () => {
  const v1 = samples.filter(s => s.op.v === 1)
  const v2 = samples.filter(s => s.op.v === 2)
  /** The same op as v2: a v1 genesis gains the v2 policy fields. */
  const asV2 = (op: UnsignedOp): UnsignedOp => {
    const out = structuredClone(op) as Loose
    out.v = 2
    if (out.kind === 'genesis') out.body.policy = { ...out.body.policy, beaconIntervalMs: DEFAULT_BEACON_INTERVAL_MS, mintSlackMs: DEFAULT_MINT_SLACK_MS }
    return out as UnsignedOp
  }

  it('the versions', () => {
    expect(PROTOCOL_VERSIONS).toEqual([1, 2])
    expect(PROTOCOL_VERSION).toBe(2)
    expect(OP_KINDS_OF_VERSION[1]).toEqual(['genesis', 'register', 'price', 'mint', 'receipt', 'transfer', 'burn', 'unfreeze'])
    expect(OP_KINDS_OF_VERSION[2]).toEqual([...OP_KINDS_OF_VERSION[1], 'beacon'])
    expect(v1.length).toBe(16)
    expect(new Set(v2.map(s => s.op.kind))).toEqual(new Set(['genesis', 'mint', 'beacon']))
  })

  it.each(v1.map(s => [s.name, s] as const))('%s: decodes as v1 with its own id, and the same op as v2 is another op that round-trips', (_name, s) => {
    const decoded = decodeOp(s.bytes)
    expect(decoded.op.v).toBe(1)
    expect(toHex(decoded.id)).toBe(toHex(s.id))
    expect(toHex(encodeSignedOp(decoded.op))).toBe(toHex(s.bytes))
    expect(decodeUnsignedOp(s.op).v).toBe(1)
    const signed = signOp(asV2(s.op), s.signer.secretKey)
    expect(toHex(signed.bytes.subarray(0, 4))).toBe('aa617602')
    const again = decodeOp(signed.bytes)
    expect(again.op).toEqual(signed.op)
    expect(again.op.v).toBe(2)
    expect(toHex(again.id)).not.toBe(toHex(s.id))
    expect(toHex(encodeSignedOp(again.op))).toBe(toHex(signed.bytes))
    verifyOp(again)
    // a v1 signature does not carry over to the v2 op, nor the other way round
    expect(nobleVerifier.verify(s.sig, again.id, s.op.author)).toBe(false)
    expect(nobleVerifier.verify(signed.op.sig, s.id, s.op.author)).toBe(false)
  })

  it.each(v2.map(s => [s.name, s] as const))('%s: decodes as v2 and round-trips; as v1 it is refused, naming the field', (_name, s) => {
    const decoded = decodeOp(s.bytes)
    expect(decoded.op.v).toBe(2)
    expect(toHex(decoded.id)).toBe(toHex(s.id))
    expect(toHex(encodeSignedOp(decoded.op))).toBe(toHex(s.bytes))
    verifyOp(decoded)
    const field = s.op.kind === 'beacon' ? 'op.kind' : s.op.kind === 'genesis' ? 'op.body.policy.beaconIntervalMs' : undefined
    const asV1 = { ...structuredClone(s.op), v: 1 } as UnsignedOp
    if (field === undefined) {
      expect(decodeOp(signOp(asV1, s.signer.secretKey).bytes).op.v).toBe(1) // a mint is the same in both versions
    } else {
      expectDecodeError(() => decodeOp(forceSign(asV1 as unknown as Record<string, unknown>, s.signer.secretKey).bytes), field, /new in v2/)
      expectDecodeError(() => signOp(asV1, s.signer.secretKey), field, /new in v2/)
    }
  })

  it('a decoded op keeps its own v: nothing upgrades it', () => {
    const mint = sample('mint')
    const decoded = decodeOp(mint.bytes)
    expect(decodeSignedOp(decoded.op).v).toBe(1)
    expect(toHex(opId(decoded.op))).toBe(toHex(mint.id))
    expect(decodeSignedOp(signedValue(sample('v2-mint'))).v).toBe(2)
  })

  it('policyOf: a v1 genesis takes the defaults, a v2 genesis its own fields', () => {
    expect(DEFAULT_BEACON_INTERVAL_MS).toBe(300_000)
    expect(DEFAULT_MINT_SLACK_MS).toBe(900_000)
    expect(MIN_BEACON_INTERVAL_MS).toBe(1000)
    const v1Body = sample('genesis').op.body as GenesisBody
    const v2Body = sample('v2-genesis').op.body as GenesisBody
    expect(v1Body.policy).toEqual({ friendlyCreditHours: [0, 1, 2, 3, 4, 5] })
    expect(policyOf(v1Body)).toEqual({ friendlyCreditHours: [0, 1, 2, 3, 4, 5], beaconIntervalMs: 300_000, mintSlackMs: 900_000 })
    expect(policyOf(v2Body)).toEqual({ friendlyCreditHours: [0, 1, 2, 3, 4, 5], beaconIntervalMs: 60_000, mintSlackMs: 180_000 })
    const zero = { ...v2Body, policy: { friendlyCreditHours: [], beaconIntervalMs: 1000, mintSlackMs: 0 } }
    expect(policyOf(zero)).toEqual({ friendlyCreditHours: [], beaconIntervalMs: 1000, mintSlackMs: 0 })
    // decoded genesis ops: v1 has no beacon fields at all (not even undefined ones)
    const decodedV1 = decodeOp(sample('genesis').bytes).op.body as GenesisBody
    expect(Object.keys(decodedV1.policy)).toEqual(['friendlyCreditHours'])
    expect(Object.keys((decodeOp(sample('v2-genesis').bytes).op.body as GenesisBody).policy).sort()).toEqual(['beaconIntervalMs', 'friendlyCreditHours', 'mintSlackMs'])
    // a copy: changing it changes nothing in the op
    const effective = policyOf(decodedV1)
    effective.friendlyCreditHours.push(23)
    expect(decodedV1.policy.friendlyCreditHours).toEqual([0, 1, 2, 3, 4, 5])
  })

  it('a writer builds v2 ops with the exported types: a beacon and a v2 genesis as literals', () => {
    const prev = sample('v2-beacon')
    const beacon: UnsignedOpOf<'beacon'> = {
      v: PROTOCOL_VERSION, grid, kind: 'beacon', author: registrar.publicKey, seq: prev.op.seq + 1, prev: prev.id, deps: [], ts: prev.op.ts + DEFAULT_BEACON_INTERVAL_MS, body: {}
    }
    const body: BeaconBody = decodeOp(signOp(beacon, registrar.secretKey).bytes).op.body as BeaconBody
    expect(body).toEqual({})
    const policy: GridPolicy = { friendlyCreditHours: [], beaconIntervalMs: MIN_BEACON_INTERVAL_MS, mintSlackMs: 0 }
    const genesis: UnsignedOpOf<'genesis'> = {
      v: PROTOCOL_VERSION, grid: null, kind: 'genesis', author: registrar.publicKey, seq: 0, prev: null, deps: [], ts: 0,
      body: { name: 'G', currency: 'EUR', registrars: [registrar.publicKey], oracles: [oracle.publicKey], policy }
    }
    const decoded = decodeOp(signOp(genesis, registrar.secretKey).bytes).op
    expect(decoded.v).toBe(2)
    expect(policyOf(decoded.body as GenesisBody)).toEqual(policy)
  })

  it('a beacon body is the empty map a0, decoded to a fresh {}', () => {
    const beacon = sample('v2-beacon')
    expect(toHex(beacon.bytes)).toContain(toHex(cbor.concat(cbor.tstr('body'), Uint8Array.of(0xa0), cbor.tstr('deps'))))
    const a = decodeOp(beacon.bytes).op
    const b = decodeOp(beacon.bytes).op
    expect(a.body).toEqual({})
    expect(a.body).not.toBe(b.body)
  })
})

describe('every field of every kind', () => {
  const leafValue = (v: unknown): unknown => typeof v === 'string' ? 7 : 'x'

  it.each(samples.map(s => [s.name, s] as const))('%s: a value of the wrong type is refused, naming the field', (_name, s) => {
    const value = signedValue(s)
    const paths = allPaths(value)
    expect(paths.length).toBeGreaterThanOrEqual(9)
    for (const path of [...paths, ['sig']] as Path[]) {
      const bad = setPath(value, path, leafValue(getPath(value, path)))
      const field = pathText(path)
      expectDecodeError(() => decodeOp(dagCbor.encode(bad)), field, /expected/, `${field} on the wire`)
      if (path[0] !== 'sig') {
        const unsigned = setPath(s.op, path, leafValue(getPath(value, path)))
        expectDecodeError(() => decodeUnsignedOp(unsigned), field, /expected/, `${field} in memory`)
        expectDecodeError(() => signOp(unsigned, s.signer.secretKey), field, /expected/, `${field} given to signOp`)
      }
    }
  })

  it.each(samples.map(s => [s.name, s] as const))('%s: a missing field is refused, naming it', (_name, s) => {
    const value = signedValue(s)
    const mapFieldPaths = allPaths(value).filter(p => typeof p[p.length - 1] === 'string')
    for (const path of [...mapFieldPaths, ['sig']] as Path[]) {
      const field = pathText(path)
      expectDecodeError(() => decodeOp(dagCbor.encode(setPath(value, path, DELETE))), field, /expected/, field)
    }
  })

  it.each(samples.map(s => [s.name, s] as const))('%s: an unknown field is refused, naming it', (_name, s) => {
    const value = signedValue(s)
    const maps: Path[] = [[], ...allPaths(value).filter(p => {
      const v = getPath(value, p)
      return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)
    })]
    expect(maps.length).toBeGreaterThanOrEqual(2)
    for (const path of maps) {
      const field = pathText([...path, 'extra'])
      const bad = setPath(value, [...path, 'extra'], 1)
      expectDecodeError(() => decodeOp(dagCbor.encode(bad)), field, /no such field/, field)
      expectDecodeError(() => decodeUnsignedOp(setPath(s.op, [...path, 'extra'], 1)), field, /no such field/, field)
    }
    // an unsigned op must not carry a sig, a signed one must
    expectDecodeError(() => decodeUnsignedOp(value), 'op.sig', /no such field/)
    expectDecodeError(() => decodeSignedOp(s.op), 'op.sig', /a value/)
  })

  it.each(samples.map(s => [s.name, s] as const))('%s: null is refused wherever the field is not optional', (_name, s) => {
    const value = signedValue(s)
    let refused = 0
    for (const path of allPaths(value)) {
      if (getPath(value, path) === null) continue
      const field = pathText(path)
      const bad = setPath(value, path, null)
      const optional = ['op.body.window', 'op.body.position', 'op.body.wholesale', 'op.body.retail'].includes(field)
      if (optional) {
        // allowed: a price may leave one side unset, but not both
        try {
          decodeOp(dagCbor.encode(bad))
        } catch (err) {
          expect(err).toBeInstanceOf(OpDecodeError)
          expect((err as OpDecodeError).field).toBe('op.body')
          expect((err as OpDecodeError).message).toMatch(/a wholesale or a retail price/)
        }
      } else {
        expectDecodeError(() => decodeOp(dagCbor.encode(bad)), field, /expected/, field)
        refused++
      }
    }
    expect(refused).toBeGreaterThan(5)
  })
})

interface Case {
  name: string
  sample: string
  mutate: (op: Loose) => void
  field: string
  expected: RegExp
}

const over = (bytes: number): string => '€'.repeat(Math.ceil(bytes / 3)) // 3 UTF-8 bytes each
const keys = (n: number): Uint8Array[] => Array.from({ length: n }, (_, i) => key(0x40 + i)).sort(Buffer.compare)

const CASES: Case[] = [
  // the envelope
  { name: 'version 3', sample: 'mint', mutate: o => { o.v = 3 }, field: 'op.v', expected: /protocol version 1 or 2, got 3/ },
  { name: 'version 3 of a v2 op', sample: 'v2-beacon', mutate: o => { o.v = 3 }, field: 'op.v', expected: /protocol version 1 or 2, got 3/ },
  { name: 'version 0', sample: 'mint', mutate: o => { o.v = 0 }, field: 'op.v', expected: /protocol version 1 or 2, got 0/ },
  { name: 'version as text', sample: 'genesis', mutate: o => { o.v = '1' }, field: 'op.v', expected: /protocol version 1 or 2, got "1"/ },
  { name: 'version 2 as text', sample: 'v2-genesis', mutate: o => { o.v = '2' }, field: 'op.v', expected: /protocol version 1 or 2, got "2"/ },
  { name: 'version 1.5', sample: 'v2-mint', mutate: o => { o.v = 1.5 }, field: 'op.v', expected: /protocol version 1 or 2, got 1.5/ },
  { name: 'an unknown kind', sample: 'mint', mutate: o => { o.kind = 'vote' }, field: 'op.kind', expected: /one of genesis, register, price, mint, receipt, transfer, burn, unfreeze, got "vote"/ },
  { name: 'an unknown kind in a v2 op', sample: 'v2-mint', mutate: o => { o.kind = 'vote' }, field: 'op.kind', expected: /one of genesis, register, price, mint, receipt, transfer, burn, unfreeze, beacon, got "vote"/ },
  { name: 'a kind in another case', sample: 'mint', mutate: o => { o.kind = 'Mint' }, field: 'op.kind', expected: /one of genesis/ },
  { name: 'a kind with another body', sample: 'mint', mutate: o => { o.kind = 'burn'; o.body = { wh: 1, total: 1, x: 1 } }, field: 'op.body.x', expected: /no such field/ },
  { name: 'a 32-byte author', sample: 'mint', mutate: o => { o.author = o.author.subarray(1) }, field: 'op.author', expected: /33 bytes, got 32 bytes/ },
  { name: 'an uncompressed key prefix', sample: 'mint', mutate: o => { o.author[0] = 4 }, field: 'op.author', expected: /compressed secp256k1 key/ },
  { name: 'a negative seq', sample: 'mint', mutate: o => { o.seq = -1 }, field: 'op.seq', expected: /non-negative safe integer, got -1/ },
  { name: 'a fractional seq', sample: 'mint', mutate: o => { o.seq = 1.5 }, field: 'op.seq', expected: /non-negative safe integer/ },
  { name: 'an unsafe seq', sample: 'mint', mutate: o => { o.seq = 2 ** 53 }, field: 'op.seq', expected: /non-negative safe integer/ },
  { name: 'a negative ts', sample: 'mint', mutate: o => { o.ts = -1 }, field: 'op.ts', expected: /non-negative safe integer/ },
  { name: 'a 31-byte grid', sample: 'mint', mutate: o => { o.grid = o.grid.subarray(1) }, field: 'op.grid', expected: /32 bytes, got 31 bytes/ },
  { name: 'no grid outside genesis', sample: 'mint-first', mutate: o => { o.grid = null }, field: 'op.grid', expected: /32 bytes, got null/ },
  { name: 'a grid in the genesis op', sample: 'genesis', mutate: o => { o.grid = grid }, field: 'op.grid', expected: /null in a genesis op/ },
  { name: 'a genesis op at seq 1', sample: 'genesis', mutate: o => { o.seq = 1; o.prev = grid }, field: 'op.seq', expected: /0 in a genesis op, got 1/ },
  { name: 'no prev after seq 0', sample: 'mint', mutate: o => { o.prev = null }, field: 'op.prev', expected: /32 bytes, got null/ },
  { name: 'a prev at seq 0', sample: 'mint-first', mutate: o => { o.prev = grid }, field: 'op.prev', expected: /null at seq 0, got 32 bytes/ },
  { name: 'a 33-byte prev', sample: 'mint', mutate: o => { o.prev = new Uint8Array(33) }, field: 'op.prev', expected: /32 bytes/ },
  { name: 'deps as a map', sample: 'mint', mutate: o => { o.deps = {} }, field: 'op.deps', expected: /a list of 0 to 64 items/ },
  { name: 'deps in descending order', sample: 'transfer-wholesale-seller', mutate: o => { o.deps.reverse() }, field: 'op.deps', expected: /authors sorted ascending, one entry each/ },
  { name: 'two deps on one author', sample: 'mint', mutate: o => { o.deps = [[registrar.publicKey, 1], [registrar.publicKey, 2]] }, field: 'op.deps', expected: /one entry each/ },
  { name: 'a dep on the own chain', sample: 'transfer-wholesale-seller', mutate: o => { o.deps = [[producer.publicKey, 0]] }, field: 'op.deps[0]', expected: /another author/ },
  { name: 'a dep on the own chain among others', sample: 'mint', mutate: o => { o.deps = [[registrar.publicKey, 1], [meter.publicKey, 0]].sort((a, b) => Buffer.compare(a[0] as Uint8Array, b[0] as Uint8Array)) }, field: 'op.deps[1]', expected: /another author/ },
  { name: `${LIMITS.maxDeps + 1} deps`, sample: 'mint', mutate: o => { o.deps = keys(LIMITS.maxDeps + 1).map(k => [k, 0]) }, field: 'op.deps', expected: /a list of 0 to 64 items, got an array of 65/ },
  { name: 'a dep of three items', sample: 'transfer-wholesale-seller', mutate: o => { o.deps[0].push(1) }, field: 'op.deps[0]', expected: /a list of 2 to 2 items/ },
  { name: 'a dep with a negative seq', sample: 'transfer-wholesale-seller', mutate: o => { o.deps[1][1] = -1 }, field: 'op.deps[1][1]', expected: /non-negative safe integer/ },
  { name: 'a dep on a bad key', sample: 'transfer-wholesale-seller', mutate: o => { o.deps[0][0] = new Uint8Array(33) }, field: 'op.deps[0][0]', expected: /compressed secp256k1 key/ },
  { name: 'a body that is a list', sample: 'mint', mutate: o => { o.body = [4000, 10000] }, field: 'op.body', expected: /a map, got an array of 2/ },
  // genesis
  { name: 'an empty name', sample: 'genesis', mutate: o => { o.body.name = '' }, field: 'op.body.name', expected: /text of 1 to 128 UTF-8 bytes/ },
  { name: 'a name of 129 UTF-8 bytes', sample: 'genesis', mutate: o => { o.body.name = over(129) }, field: 'op.body.name', expected: /text of 1 to 128 UTF-8 bytes/ },
  { name: 'a name with a newline', sample: 'genesis', mutate: o => { o.body.name = 'a\nb' }, field: 'op.body.name', expected: /without control characters/ },
  { name: 'a lower-case currency', sample: 'genesis', mutate: o => { o.body.currency = 'usd' }, field: 'op.body.currency', expected: /ISO 4217 code/ },
  { name: 'a four-letter currency', sample: 'genesis', mutate: o => { o.body.currency = 'USDT' }, field: 'op.body.currency', expected: /ISO 4217 code/ },
  { name: 'no registrars', sample: 'genesis', mutate: o => { o.body.registrars = [] }, field: 'op.body.registrars', expected: /a list of 1 to 32 items/ },
  { name: `${LIMITS.maxKeysInGenesis + 1} oracles`, sample: 'genesis', mutate: o => { o.body.oracles = keys(LIMITS.maxKeysInGenesis + 1) }, field: 'op.body.oracles', expected: /a list of 1 to 32 items/ },
  { name: 'unsorted registrars', sample: 'genesis', mutate: o => { o.body.registrars = keys(3).reverse() }, field: 'op.body.registrars', expected: /keys sorted ascending, without repeats/ },
  { name: 'a repeated oracle', sample: 'genesis', mutate: o => { o.body.oracles = [oracle.publicKey, oracle.publicKey] }, field: 'op.body.oracles', expected: /without repeats/ },
  { name: 'an oracle that is not a key', sample: 'genesis', mutate: o => { o.body.oracles = [new Uint8Array(33).fill(2), 'k'] }, field: 'op.body.oracles[1]', expected: /33 bytes/ },
  { name: 'hour 24', sample: 'genesis', mutate: o => { o.body.policy.friendlyCreditHours = [0, 24] }, field: 'op.body.policy.friendlyCreditHours[1]', expected: /an integer from 0 to 23, got 24/ },
  { name: 'hour -1', sample: 'genesis', mutate: o => { o.body.policy.friendlyCreditHours = [-1] }, field: 'op.body.policy.friendlyCreditHours[0]', expected: /from 0 to 23/ },
  { name: 'hours unsorted', sample: 'genesis', mutate: o => { o.body.policy.friendlyCreditHours = [5, 4] }, field: 'op.body.policy.friendlyCreditHours', expected: /hours sorted ascending, without repeats/ },
  { name: 'an hour repeated', sample: 'genesis', mutate: o => { o.body.policy.friendlyCreditHours = [4, 4] }, field: 'op.body.policy.friendlyCreditHours', expected: /without repeats/ },
  { name: '25 hours', sample: 'genesis', mutate: o => { o.body.policy.friendlyCreditHours = Array.from({ length: 25 }, (_, i) => i) }, field: 'op.body.policy.friendlyCreditHours', expected: /a list of 0 to 24 items/ },
  { name: 'a policy field too many', sample: 'genesis', mutate: o => { o.body.policy.creditLimit = 5 }, field: 'op.body.policy.creditLimit', expected: /no such field/ },
  // register
  { name: 'an unknown role', sample: 'register-utility', mutate: o => { o.body.role = 'oracle' }, field: 'op.body.role', expected: /one of producer, consumer, utility, got "oracle"/ },
  { name: 'a producer of 0 W', sample: 'register-producer', mutate: o => { o.body.capacityW = 0 }, field: 'op.body.capacityW', expected: /a safe integer ≥ 1, got 0/ },
  { name: 'a producer metered by its own account key', sample: 'register-producer', mutate: o => { o.body.meter = o.body.account }, field: 'op.body.meter', expected: /a key other than the account/ },
  { name: 'a producer label of 129 bytes', sample: 'register-producer', mutate: o => { o.body.label = 'x'.repeat(129) }, field: 'op.body.label', expected: /text of 1 to 128 UTF-8 bytes/ },
  { name: 'a producer label with a bell', sample: 'register-producer', mutate: o => { o.body.label = 'ding\u0007' }, field: 'op.body.label', expected: /without control characters/ },
  { name: 'a producer with a consumer\'s category', sample: 'register-producer', mutate: o => { o.body.category = 'household' }, field: 'op.body.category', expected: /no such field/ },
  { name: 'a consumer with a producer\'s account', sample: 'register-consumer', mutate: o => { o.body.account = producer.publicKey }, field: 'op.body.account', expected: /no such field/ },
  { name: 'an unknown category', sample: 'register-consumer', mutate: o => { o.body.category = 'farm' }, field: 'op.body.category', expected: /one of household, street-light, stadium, public, business, other/ },
  { name: 'a latitude past the pole', sample: 'register-consumer', mutate: o => { o.body.position = [90_000_001, 0] }, field: 'op.body.position[0]', expected: /an integer from -90000000 to 90000000/ },
  { name: 'a longitude past the antimeridian', sample: 'register-consumer', mutate: o => { o.body.position = [0, -180_000_001] }, field: 'op.body.position[1]', expected: /an integer from -180000000 to 180000000/ },
  { name: 'a position of one number', sample: 'register-consumer', mutate: o => { o.body.position = [1] }, field: 'op.body.position', expected: /a list of 2 to 2 items/ },
  { name: 'a position in degrees', sample: 'register-consumer', mutate: o => { o.body.position = [-1.29285, 36.821946] }, field: 'op.body.position[0]', expected: /an integer/ },
  { name: 'a utility with a 32-byte account', sample: 'register-utility', mutate: o => { o.body.account = new Uint8Array(32) }, field: 'op.body.account', expected: /33 bytes/ },
  { name: 'a utility without a label', sample: 'register-utility', mutate: o => { delete o.body.label }, field: 'op.body.label', expected: /a value/ },
  // price
  { name: 'no price at all', sample: 'price-wholesale', mutate: o => { o.body.wholesale = null }, field: 'op.body', expected: /a wholesale or a retail price/ },
  { name: 'a wholesale price of 0', sample: 'price-wholesale', mutate: o => { o.body.wholesale = 0 }, field: 'op.body.wholesale', expected: /≥ 1/ },
  { name: 'a negative retail price', sample: 'price-retail', mutate: o => { o.body.retail = -5 }, field: 'op.body.retail', expected: /≥ 1, got -5/ },
  { name: 'a fractional retail price', sample: 'price-retail', mutate: o => { o.body.retail = 12.5 }, field: 'op.body.retail', expected: /≥ 1, got 12.5/ },
  // mint and burn
  { name: 'a mint of 0 Wh', sample: 'mint', mutate: o => { o.body.wh = 0 }, field: 'op.body.wh', expected: /a safe integer ≥ 1, got 0/ },
  { name: 'a mint reading of 0', sample: 'mint', mutate: o => { o.body.total = 0 }, field: 'op.body.total', expected: /≥ 1/ },
  { name: 'a mint of 1.5 Wh', sample: 'mint', mutate: o => { o.body.wh = 1.5 }, field: 'op.body.wh', expected: /≥ 1, got 1.5/ },
  { name: 'a burn of 0 Wh', sample: 'burn', mutate: o => { o.body.wh = 0 }, field: 'op.body.wh', expected: /≥ 1/ },
  { name: 'a burn with an unsafe reading', sample: 'burn', mutate: o => { o.body.total = 2 ** 60 }, field: 'op.body.total', expected: /safe integer/ },
  { name: 'a burn with a label', sample: 'burn', mutate: o => { o.body.label = 'x' }, field: 'op.body.label', expected: /no such field/ },
  // receipt
  { name: 'a receipt for contract resident', sample: 'receipt-wholesale', mutate: o => { o.body.contract = 'resident' }, field: 'op.body.contract', expected: /one of wholesale-seller, retail-seller, got "resident"/ },
  { name: 'a receipt paying oneself', sample: 'receipt-retail', mutate: o => { o.body.payee = o.body.payer }, field: 'op.body.payee', expected: /an account other than the payer/ },
  { name: 'a receipt of 0', sample: 'receipt-retail', mutate: o => { o.body.amount = 0 }, field: 'op.body.amount', expected: /≥ 1/ },
  { name: 'a receipt in "US"', sample: 'receipt-retail', mutate: o => { o.body.currency = 'US' }, field: 'op.body.currency', expected: /ISO 4217/ },
  { name: 'an empty payment id', sample: 'receipt-retail', mutate: o => { o.body.paymentId = '' }, field: 'op.body.paymentId', expected: /text of 1 to 128 UTF-8 bytes/ },
  { name: 'a payment id of 129 bytes', sample: 'receipt-retail', mutate: o => { o.body.paymentId = 'p'.repeat(129) }, field: 'op.body.paymentId', expected: /text of 1 to 128 UTF-8 bytes/ },
  { name: 'a payment id with a tab', sample: 'receipt-retail', mutate: o => { o.body.paymentId = 'pi\t1' }, field: 'op.body.paymentId', expected: /without control characters/ },
  { name: 'a payer that is not a key', sample: 'receipt-retail', mutate: o => { o.body.payer = 'mg1...' }, field: 'op.body.payer', expected: /33 bytes, got "mg1..."/ },
  // transfer
  { name: 'an unknown contract', sample: 'transfer-resident', mutate: o => { o.body.contract = 'gift' }, field: 'op.body.contract', expected: /one of wholesale-seller, retail-seller, resident/ },
  { name: 'a transfer to a 34-byte key', sample: 'transfer-resident', mutate: o => { o.body.to = new Uint8Array(34).fill(2) }, field: 'op.body.to', expected: /33 bytes/ },
  { name: 'a transfer of 0 Wh', sample: 'transfer-retail-seller', mutate: o => { o.body.wh = 0 }, field: 'op.body.wh', expected: /≥ 1/ },
  { name: 'a sale with a window', sample: 'transfer-wholesale-seller', mutate: o => { o.body.window = { from: 1, until: 2 } }, field: 'op.body.window', expected: /null for contract wholesale-seller, got a map/ },
  { name: 'a sale without a receipt', sample: 'transfer-retail-seller', mutate: o => { o.body.receipt = null }, field: 'op.body.receipt', expected: /a list of 2 to 2 items, got null/ },
  { name: 'a sale citing a negative seq', sample: 'transfer-retail-seller', mutate: o => { o.body.receipt[1] = -1 }, field: 'op.body.receipt[1]', expected: /non-negative/ },
  { name: 'a sale citing a bad key', sample: 'transfer-retail-seller', mutate: o => { o.body.receipt[0] = new Uint8Array(33) }, field: 'op.body.receipt[0]', expected: /compressed secp256k1 key/ },
  { name: 'a resident transfer citing a receipt', sample: 'transfer-resident', mutate: o => { o.body.receipt = [oracle.publicKey, 1] }, field: 'op.body.receipt', expected: /null for contract resident/ },
  { name: 'an empty window', sample: 'transfer-resident-window', mutate: o => { o.body.window.until = o.body.window.from }, field: 'op.body.window.until', expected: /a time after window.from/ },
  { name: 'a window that ends before it starts', sample: 'transfer-resident-window', mutate: o => { o.body.window.until = o.body.window.from - 1 }, field: 'op.body.window.until', expected: /a time after window.from/ },
  { name: 'a window without an end', sample: 'transfer-resident-window', mutate: o => { delete o.body.window.until }, field: 'op.body.window.until', expected: /a value/ },
  { name: 'a window with a field too many', sample: 'transfer-resident-window', mutate: o => { o.body.window.days = 7 }, field: 'op.body.window.days', expected: /no such field/ },
  { name: 'a window starting before 1970', sample: 'transfer-resident-window', mutate: o => { o.body.window.from = -1 }, field: 'op.body.window.from', expected: /non-negative/ },
  // beacon (v2)
  { name: 'a v1 beacon', sample: 'v2-beacon', mutate: o => { o.v = 1 }, field: 'op.kind', expected: /one of genesis, register, price, mint, receipt, transfer, burn, unfreeze in a v1 op \(beacon is new in v2\), got "beacon"/ },
  { name: 'a v1 beacon at seq 0', sample: 'v2-beacon-oracle', mutate: o => { o.v = 1 }, field: 'op.kind', expected: /beacon is new in v2/ },
  { name: 'a beacon with a body key', sample: 'v2-beacon', mutate: o => { o.body = { ts: 1 } }, field: 'op.body.ts', expected: /no such field/ },
  { name: 'a beacon with a null body', sample: 'v2-beacon', mutate: o => { o.body = null }, field: 'op.body', expected: /a map, got null/ },
  { name: 'a beacon with an empty list for a body', sample: 'v2-beacon', mutate: o => { o.body = [] }, field: 'op.body', expected: /a map, got an array of 0/ },
  { name: 'a beacon with an empty byte string for a body', sample: 'v2-beacon-oracle', mutate: o => { o.body = new Uint8Array(0) }, field: 'op.body', expected: /a map, got 0 bytes/ },
  { name: 'a beacon without a grid', sample: 'v2-beacon-oracle', mutate: o => { o.grid = null }, field: 'op.grid', expected: /32 bytes, got null/ },
  { name: 'a mint with a beacon\'s body', sample: 'v2-mint', mutate: o => { o.body = {} }, field: 'op.body.wh', expected: /a value/ },
  // the genesis policy: exactly { friendlyCreditHours } in v1, all three fields in v2
  { name: 'a v1 genesis with beaconIntervalMs', sample: 'genesis', mutate: o => { o.body.policy.beaconIntervalMs = 60_000 }, field: 'op.body.policy.beaconIntervalMs', expected: /no such field in a v1 op \(it is new in v2\)/ },
  { name: 'a v1 genesis with mintSlackMs', sample: 'genesis', mutate: o => { o.body.policy.mintSlackMs = 0 }, field: 'op.body.policy.mintSlackMs', expected: /no such field in a v1 op/ },
  { name: 'a v1 genesis with both v2 policy fields', sample: 'genesis', mutate: o => { o.body.policy.mintSlackMs = 0; o.body.policy.beaconIntervalMs = 60_000 }, field: 'op.body.policy.beaconIntervalMs', expected: /no such field in a v1 op/ },
  { name: 'a v1 genesis made v2 without the policy fields', sample: 'genesis', mutate: o => { o.v = 2 }, field: 'op.body.policy.beaconIntervalMs', expected: /a value/ },
  { name: 'a v2 genesis made v1', sample: 'v2-genesis', mutate: o => { o.v = 1 }, field: 'op.body.policy.beaconIntervalMs', expected: /no such field in a v1 op/ },
  { name: 'a v2 genesis without beaconIntervalMs', sample: 'v2-genesis', mutate: o => { delete o.body.policy.beaconIntervalMs }, field: 'op.body.policy.beaconIntervalMs', expected: /a value/ },
  { name: 'a v2 genesis without mintSlackMs', sample: 'v2-genesis', mutate: o => { delete o.body.policy.mintSlackMs }, field: 'op.body.policy.mintSlackMs', expected: /a value/ },
  { name: 'beaconIntervalMs 999', sample: 'v2-genesis', mutate: o => { o.body.policy.beaconIntervalMs = 999 }, field: 'op.body.policy.beaconIntervalMs', expected: /a safe integer ≥ 1000, got 999/ },
  { name: 'beaconIntervalMs 0', sample: 'v2-genesis', mutate: o => { o.body.policy.beaconIntervalMs = 0 }, field: 'op.body.policy.beaconIntervalMs', expected: /≥ 1000, got 0/ },
  { name: 'beaconIntervalMs null', sample: 'v2-genesis', mutate: o => { o.body.policy.beaconIntervalMs = null }, field: 'op.body.policy.beaconIntervalMs', expected: /≥ 1000, got null/ },
  { name: 'beaconIntervalMs fractional', sample: 'v2-genesis', mutate: o => { o.body.policy.beaconIntervalMs = 1000.5 }, field: 'op.body.policy.beaconIntervalMs', expected: /≥ 1000, got 1000.5/ },
  { name: 'beaconIntervalMs unsafe', sample: 'v2-genesis', mutate: o => { o.body.policy.beaconIntervalMs = 2 ** 53 }, field: 'op.body.policy.beaconIntervalMs', expected: /a safe integer ≥ 1000/ },
  { name: 'beaconIntervalMs as text', sample: 'v2-genesis', mutate: o => { o.body.policy.beaconIntervalMs = '60000' }, field: 'op.body.policy.beaconIntervalMs', expected: /≥ 1000, got "60000"/ },
  { name: 'mintSlackMs -1', sample: 'v2-genesis', mutate: o => { o.body.policy.mintSlackMs = -1 }, field: 'op.body.policy.mintSlackMs', expected: /a non-negative safe integer, got -1/ },
  { name: 'mintSlackMs unsafe', sample: 'v2-genesis', mutate: o => { o.body.policy.mintSlackMs = 2 ** 60 }, field: 'op.body.policy.mintSlackMs', expected: /a non-negative safe integer/ },
  { name: 'mintSlackMs null', sample: 'v2-genesis', mutate: o => { o.body.policy.mintSlackMs = null }, field: 'op.body.policy.mintSlackMs', expected: /non-negative safe integer, got null/ },
  { name: 'a v2 policy field too many', sample: 'v2-genesis', mutate: o => { o.body.policy.creditLimit = 5 }, field: 'op.body.policy.creditLimit', expected: /no such field/ },
  { name: 'hour 24 in a v2 policy', sample: 'v2-genesis', mutate: o => { o.body.policy.friendlyCreditHours = [24] }, field: 'op.body.policy.friendlyCreditHours[0]', expected: /from 0 to 23/ },
  // unfreeze
  { name: 'an unfreeze of a bad key', sample: 'unfreeze', mutate: o => { o.body.account = new Uint8Array(33).fill(5) }, field: 'op.body.account', expected: /compressed secp256k1 key/ },
  { name: 'an unfreeze at a negative seq', sample: 'unfreeze', mutate: o => { o.body.seq = -1 }, field: 'op.body.seq', expected: /non-negative/ }
]

describe('field constraints: refused on the wire, in memory and by signOp', () => {
  it('cover every op kind', () => {
    expect(new Set(CASES.map(c => sample(c.sample).op.kind))).toEqual(new Set(samples.map(s => s.op.kind)))
  })

  it.each(CASES.map(c => [c.name, c] as const))('%s', (_name, c) => {
    const s = sample(c.sample)
    const op = structuredClone(s.op) as Loose
    c.mutate(op)
    expectDecodeError(() => decodeOp(dagCbor.encode({ ...op, sig: s.sig })), c.field, c.expected, 'wire')
    expectDecodeError(() => decodeUnsignedOp(op), c.field, c.expected, 'decodeUnsignedOp')
    expectDecodeError(() => signOp(op as UnsignedOp, s.signer.secretKey), c.field, c.expected, 'signOp')
  })

  it('accepts the boundaries', () => {
    const accept = (s: Sample, mutate: (op: Loose) => void): void => {
      const op = structuredClone(s.op) as Loose
      mutate(op)
      const signed = signOp(op as UnsignedOp, s.signer.secretKey)
      expect(decodeOp(signed.bytes).op).toEqual(signed.op)
    }
    accept(sample('genesis'), o => { o.body.name = 'x'.repeat(LIMITS.maxNameBytes); o.body.registrars = keys(LIMITS.maxKeysInGenesis) })
    accept(sample('genesis'), o => { o.body.name = '€'.repeat(42) + 'xx'; o.body.policy.friendlyCreditHours = Array.from({ length: 24 }, (_, i) => i) })
    accept(sample('genesis'), o => { o.body.policy.friendlyCreditHours = [] })
    accept(sample('mint'), o => { o.deps = keys(LIMITS.maxDeps).map(k => [k, Number.MAX_SAFE_INTEGER]); o.ts = Number.MAX_SAFE_INTEGER })
    accept(sample('register-consumer'), o => { o.body.position = [-90_000_000, 180_000_000]; o.body.label = 'l'.repeat(LIMITS.maxLabelBytes) })
    accept(sample('register-consumer'), o => { o.body.position = null; o.body.category = 'other' })
    accept(sample('price-wholesale'), o => { o.body.retail = 1 })
    accept(sample('transfer-resident-window'), o => { o.body.window = { from: 0, until: 1 } })
    accept(sample('receipt-retail'), o => { o.body.paymentId = 'p'.repeat(LIMITS.maxPaymentIdBytes) })
    accept(sample('mint'), o => { o.body = { wh: 1, total: 1 } })
    accept(sample('v2-genesis'), o => { o.body.policy = { friendlyCreditHours: [], beaconIntervalMs: 1000, mintSlackMs: 0 } })
    accept(sample('v2-genesis'), o => { o.body.policy.beaconIntervalMs = Number.MAX_SAFE_INTEGER; o.body.policy.mintSlackMs = Number.MAX_SAFE_INTEGER })
    accept(sample('v2-beacon'), o => { o.deps = keys(LIMITS.maxDeps).map(k => [k, Number.MAX_SAFE_INTEGER]); o.seq = Number.MAX_SAFE_INTEGER; o.ts = Number.MAX_SAFE_INTEGER })
    accept(sample('v2-beacon-oracle'), o => { o.ts = 0 })
  })
})

describe('one byte form per op: non-canonical CBOR is refused', () => {
  /** Re-encodes a sample with the value at `path` written as `bytes`, and expects a refusal at `field`. */
  const refuse = (s: Sample, path: Path, bytes: Uint8Array, field = 'op', label = ''): void => {
    const wire = cbor.encodeCanonical(signedValue(s), { path, bytes })
    expectDecodeError(() => decodeOp(wire), field, field === 'op' ? /canonical/ : /expected/, `${label} ${pathText(path)}`)
  }
  const leaves = (s: Sample, test: (v: unknown) => boolean): Path[] => allPaths(signedValue(s)).filter(p => test(getPath(signedValue(s), p)))
  const widths = [1, 2, 4, 8] as const

  it('the independent encoder in helpers/cbor.ts writes every sample byte for byte', () => {
    for (const s of samples) expect(toHex(cbor.encodeCanonical(signedValue(s)))).toBe(toHex(s.bytes))
  })

  it.each(samples.map(s => [s.name, s] as const))('%s: integers in a longer form than needed, or as floats', (_name, s) => {
    const ints = leaves(s, v => typeof v === 'number')
    expect(ints.length).toBeGreaterThanOrEqual(3)
    for (const path of ints) {
      const n = getPath(signedValue(s), path) as number
      const minimal = (n >= 0 ? cbor.uint(n) : cbor.nint(n)).length
      for (const w of widths) {
        if (1 + w <= minimal) continue
        refuse(s, path, n >= 0 ? cbor.uint(n, w) : cbor.nint(n, w), 'op', `width ${w}`)
      }
      refuse(s, path, cbor.float64(n), 'op', 'float64')
      if (Math.abs(n) < 2 ** 24) refuse(s, path, cbor.float32(n), 'op', 'float32')
    }
  })

  it.each(samples.map(s => [s.name, s] as const))('%s: byte strings, text, lists and maps with long or indefinite lengths', (_name, s) => {
    const value = signedValue(s)
    for (const path of leaves(s, v => v instanceof Uint8Array)) {
      const b = getPath(value, path) as Uint8Array
      refuse(s, path, cbor.bstr(b, b.length < 0x100 ? 2 : 4), 'op', 'long')
      refuse(s, path, cbor.indefiniteBytes([b.subarray(0, 1), b.subarray(1)]), 'op', 'indefinite')
    }
    for (const path of [['kind'], ...leaves(s, v => typeof v === 'string')] as Path[]) {
      const t = getPath(value, path) as string
      refuse(s, path, cbor.tstr(t, 2), 'op', 'long')
      refuse(s, path, cbor.indefiniteText([t]), 'op', 'indefinite')
    }
    for (const path of leaves(s, v => Array.isArray(v))) {
      const items = (getPath(value, path) as unknown[]).map(v => cbor.encodeCanonical(v))
      refuse(s, path, cbor.array(items, 1), 'op', 'long')
      refuse(s, path, cbor.indefiniteArray(items), 'op', 'indefinite')
    }
    const maps: Path[] = [[], ...leaves(s, v => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array))]
    for (const path of maps) {
      const entries = cbor.entriesOf(path.length === 0 ? value : getPath(value, path) as object)
      const wire = (bytes: Uint8Array): Uint8Array => path.length === 0 ? bytes : cbor.encodeCanonical(value, { path, bytes })
      expectDecodeError(() => decodeOp(wire(cbor.map(entries, 1))), 'op', /canonical/, `long ${pathText(path)}`)
      expectDecodeError(() => decodeOp(wire(cbor.indefiniteMap(entries))), 'op', /canonical/, `indefinite ${pathText(path)}`)
    }
  })

  it.each(samples.map(s => [s.name, s] as const))('%s: map keys out of order, or repeated', (_name, s) => {
    const value = signedValue(s)
    const maps: Path[] = [[], ...allPaths(value).filter(p => {
      const v = getPath(value, p)
      return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)
    })]
    for (const path of maps) {
      const entries = cbor.entriesOf(path.length === 0 ? value : getPath(value, path) as object)
      const wire = (bytes: Uint8Array): Uint8Array => path.length === 0 ? bytes : cbor.encodeCanonical(value, { path, bytes })
      for (let i = 1; i < entries.length; i++) {
        const swapped = [...entries]
        swapped[i - 1] = entries[i] as [string, Uint8Array]
        swapped[i] = entries[i - 1] as [string, Uint8Array]
        expectDecodeError(() => decodeOp(wire(cbor.map(swapped))), 'op', /canonical/, `swap ${i} in ${pathText(path)}`)
      }
      for (const entry of entries) {
        expectDecodeError(() => decodeOp(wire(cbor.map([entry, ...entries]))), 'op', /canonical/, `repeat ${entry[0]} in ${pathText(path)}`)
      }
    }
  })

  it('map keys sort shorter first, then bytewise: "wh" before "total", "seq" before "sig", "v" first', () => {
    const wire = toHex(sample('mint').bytes)
    const at = (k: string): number => wire.indexOf(toHex(cbor.tstr(k)))
    expect(at('v')).toBe(2)
    expect(at('ts')).toBeLessThan(at('seq'))
    expect(at('seq')).toBeLessThan(at('sig'))
    expect(at('sig')).toBeLessThan(at('body'))
    expect(at('wh')).toBeLessThan(at('total'))
    expect(at('prev')).toBeLessThan(at('author'))
  })

  it('null written as undefined (0xf7), and no tags or other simple values', () => {
    const first = sample('mint-first')
    refuse(first, ['prev'], cbor.UNDEFINED)
    refuse(sample('register-consumer'), ['grid'], cbor.tag(42, cbor.bstr(Uint8Array.of(0, 1, 0x71, 0x12, 0x20, ...grid))), 'op.grid')
    refuse(sample('mint'), ['ts'], cbor.tag(1, cbor.uint(sample('mint').op.ts)))
    refuse(sample('mint'), ['author'], cbor.tag(24, cbor.bstr(sample('mint').op.author)))
    refuse(sample('mint'), ['ts'], Uint8Array.of(0xe0))
    refuse(sample('mint'), ['ts'], cbor.float64(NaN))
    refuse(sample('mint'), ['ts'], cbor.float64(Infinity))
    refuse(sample('price-wholesale'), ['body', 'retail'], cbor.FALSE, 'op.body.retail')
    refuse(first, ['prev'], cbor.TRUE, 'op.prev')
  })

  it('integers beyond 2^53 - 1 are refused, whatever their encoding', () => {
    const mint = sample('mint')
    refuse(mint, ['seq'], cbor.uint(2n ** 53n), 'op.seq')
    refuse(mint, ['ts'], cbor.uint(2n ** 64n - 1n), 'op.ts')
    refuse(mint, ['body', 'wh'], cbor.nint(-(2n ** 64n)), 'op.body.wh')
    refuse(sample('register-consumer'), ['body', 'position', 0], cbor.nint(-(2n ** 60n)), 'op.body.position[0]')
  })

  it('text that is not valid UTF-8 is refused', () => {
    const s = sample('register-utility')
    refuse(s, ['body', 'label'], Uint8Array.of(0x62, 0xc3, 0x28)) // a truncated 2-byte sequence
    refuse(s, ['body', 'label'], Uint8Array.of(0x63, 0xed, 0xa0, 0x80)) // an encoded surrogate
    refuse(s, ['body', 'label'], Uint8Array.of(0x62, 0xc0, 0x80)) // an overlong NUL
  })

  it('trailing bytes, a second op, and anything but a map at the top', () => {
    const mint = sample('mint').bytes
    for (const bad of [
      cbor.concat(mint, Uint8Array.of(0)), cbor.concat(mint, Uint8Array.of(0xf6)), cbor.concat(mint, mint),
      mint.subarray(0, mint.length - 1), new Uint8Array(0), Uint8Array.of(0xff), Uint8Array.of(0xf6, 0xa0),
      Uint8Array.of(0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), Uint8Array.of(0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
    ]) {
      expectDecodeError(() => decodeOp(bad), 'op', /expected/, toHex(bad.subarray(0, 8)))
    }
    expectDecodeError(() => decodeOp(cbor.array([mint])), 'op', /a map, got an array of 1/)
    expectDecodeError(() => decodeOp(cbor.bstr(mint)), 'op', /a map, got/)
    expectDecodeError(() => decodeOp(cbor.uint(1)), 'op', /a map, got 1/)
    expectDecodeError(() => decodeOp(cbor.NULL), 'op', /a map, got null/)
    expectDecodeError(() => decodeOp(Uint8Array.of(0xa0)), 'op.v', /protocol version 1 or 2$/)
    expectDecodeError(() => decodeOp('aa61' as unknown as Uint8Array), 'op', /bytes/)
  })

  it('keys that are not text, or that would touch an object prototype', () => {
    const value = signedValue(sample('mint'))
    const entries = cbor.entriesOf(value)
    const withIntKey = cbor.concat(cbor.head(5, entries.length + 1), cbor.uint(1), cbor.NULL, ...entries.flatMap(([k, v]) => [cbor.tstr(k), v]))
    expectDecodeError(() => decodeOp(withIntKey), 'op', /canonical/)
    expectDecodeError(() => decodeOp(cbor.map([...entries, ['__proto__', cbor.map([])]])), 'op.__proto__', /no such field/)
    expectDecodeError(() => decodeOp(cbor.encodeCanonical(value, { path: ['body'], bytes: cbor.map([...cbor.entriesOf(value.body), ['constructor', cbor.NULL]]) })), 'op.body.constructor', /no such field/)
    // the hidden field in a prototype carries a full op: it must not be believed
    const inner = cbor.map(entries)
    expectDecodeError(() => decodeOp(cbor.map([['__proto__', inner]])), 'op.v', /protocol version 1 or 2/)
  })
})

describe('size limits', () => {
  // The largest ops: a genesis with the most keys and deps the limits allow. Tune the name length
  // (and the number of deps) to land exactly on maxOpBytes and one byte over.
  const g = sample('genesis')
  const allKeys = keys(LIMITS.maxKeysInGenesis)
  const allDeps = Array.from({ length: LIMITS.maxDeps }, (_, i) => key(0x90 + i)).sort(Buffer.compare).map(k => [k, Number.MAX_SAFE_INTEGER] as const)
  const fieldsFor = (deps: number, name: number): Record<string, unknown> => ({
    ...g.op, deps: allDeps.slice(0, deps), body: { name: 'x'.repeat(name), currency: 'USD', registrars: allKeys, oracles: allKeys, policy: { friendlyCreditHours: [] } }
  })
  const ofSize = (size: number): Record<string, unknown> => {
    for (let d = LIMITS.maxDeps; d > 0; d--) {
      for (let n = 1; n <= LIMITS.maxNameBytes; n++) {
        const fields = fieldsFor(d, n)
        if (dagCbor.encode({ ...fields, sig: new Uint8Array(64) }).length === size) return fields
      }
    }
    throw new Error(`no op of ${size} bytes`)
  }

  it(`an op of exactly ${LIMITS.maxOpBytes} bytes is accepted`, () => {
    const op = ofSize(LIMITS.maxOpBytes) as unknown as UnsignedOp
    const signed = signOp(op, registrar.secretKey)
    expect(signed.bytes.length).toBe(LIMITS.maxOpBytes)
    verifyOp(decodeOp(signed.bytes))
  })

  it(`an op of ${LIMITS.maxOpBytes + 1} bytes is refused by the decoder, and signOp will not make one`, () => {
    const fields = ofSize(LIMITS.maxOpBytes + 1)
    const { bytes } = forceSign(fields, registrar.secretKey)
    expect(bytes.length).toBe(LIMITS.maxOpBytes + 1)
    expectDecodeError(() => decodeOp(bytes), 'op', /at most 4096 bytes, got 4097 bytes/)
    expectDecodeError(() => signOp(fields as unknown as UnsignedOp, registrar.secretKey), 'op', /at most 4096 bytes/)
  })

  it('the size is checked before any parsing', () => {
    expectDecodeError(() => decodeOp(new Uint8Array(LIMITS.maxOpBytes + 1).fill(0x81)), 'op', /at most 4096 bytes/)
    expectDecodeError(() => decodeOp(new Uint8Array(1 << 20)), 'op', /at most 4096 bytes, got 1048576 bytes/)
  })

  it('deeply nested input inside the limit is refused, not a crash', () => {
    const deep = cbor.concat(new Uint8Array(LIMITS.maxOpBytes - 1).fill(0x81), Uint8Array.of(0))
    expectDecodeError(() => decodeOp(deep), 'op', /expected/)
    // maps nested 1365 deep parse, and are then refused as the map they are
    const deepMaps = cbor.concat(...Array.from({ length: 1365 }, () => cbor.concat(Uint8Array.of(0xa1), cbor.tstr('v'))), cbor.NULL)
    expect(deepMaps.length).toBeLessThanOrEqual(LIMITS.maxOpBytes)
    expectDecodeError(() => decodeOp(deepMaps), 'op.v', /protocol version 1 or 2, got a map/)
  })
})

describe('signOp', () => {
  const mint = sample('mint')

  it('signs a valid op: the bytes decode to the same op and verify; the input is left as it was', () => {
    for (const s of samples) {
      const input = structuredClone(s.op)
      const signed = signOp(input, s.signer.secretKey)
      expect(input).toEqual(s.op)
      expect('sig' in input).toBe(false)
      const decoded = decodeOp(signed.bytes)
      expect(decoded.op).toEqual(signed.op)
      expect(toHex(decoded.id)).toBe(toHex(signed.id))
      expect(signed.op.sig.length).toBe(64)
      expect(isLowSCompact(signed.op.sig)).toBe(true)
      verifyOp(decoded)
    }
  })

  it('takes an OpSigner as well as a secret key, with the same result', () => {
    const viaSigner = signOp(mint.op, keySigner(mint.signer.secretKey))
    const viaKey = signOp(mint.op, mint.signer.secretKey)
    expect(toHex(viaSigner.bytes)).toBe(toHex(viaKey.bytes))
    expect(toHex(viaSigner.bytes)).toBe(toHex(mint.bytes))
  })

  it('refuses what an OpSigner returns unless it is a 64-byte low-S signature', () => {
    const good = keySigner(mint.signer.secretKey)
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
    const highS = (digest: Uint8Array): Uint8Array => {
      const sig = good.sign(digest)
      const s = BigInt('0x' + toHex(sig.subarray(32)))
      sig.set(fromHex((n - s).toString(16).padStart(64, '0')), 32)
      return sig
    }
    for (const sign of [highS, (d: Uint8Array) => good.sign(d).subarray(0, 63), (d: Uint8Array) => Uint8Array.of(...good.sign(d), 1), () => new Uint8Array(64)]) {
      expect(() => signOp(mint.op, { publicKey: good.publicKey, sign })).toThrow(SignatureError)
    }
    expect(() => signOp(mint.op, { publicKey: stranger.publicKey, sign: good.sign })).toThrow(/does not belong to op.author/)
  })

  it('refuses a key that is not the author\'s', () => {
    for (const other of [stranger, device, utility]) {
      expect(() => signOp(mint.op, other.secretKey)).toThrow(SignatureError)
      expect(() => signOp(mint.op, other.secretKey)).toThrow(/does not belong to op.author/)
    }
  })

  it('checks the op before the key: a malformed op is an OpDecodeError even with the wrong key', () => {
    expectDecodeError(() => signOp({ ...mint.op, seq: -1 }, stranger.secretKey), 'op.seq', /non-negative/)
  })

  it('refuses an op that already carries a signature', () => {
    expectDecodeError(() => signOp(signedValue(mint) as unknown as UnsignedOp, mint.signer.secretKey), 'op.sig', /no such field/)
  })

  it('refuses fields a plain encoding would drop: inherited properties', () => {
    const op = { ...mint.op, body: Object.create({ wh: 1, total: 2 }) as { wh: number, total: number } } as UnsignedOp
    expectDecodeError(() => signOp(op, mint.signer.secretKey), 'op.body.wh', /a value/)
    expectDecodeError(() => decodeUnsignedOp(op), 'op.body.wh', /a value/)
  })

  it('refuses lists with holes, which an encoding cannot carry', () => {
    // eslint-disable-next-line no-sparse-arrays
    expectDecodeError(() => signOp({ ...mint.op, deps: [, [registrar.publicKey, 1]] as unknown as UnsignedOp['deps'] }, mint.signer.secretKey), 'op.deps[0]', /a list of 2 to 2 items$/)
    const g = structuredClone(sample('genesis').op) as Loose
    g.body.policy.friendlyCreditHours = new Array(2)
    expectDecodeError(() => signOp(g as UnsignedOp, registrar.secretKey), 'op.body.policy.friendlyCreditHours[0]', /an integer from 0 to 23/)
  })

  it('refuses text the encoding would change: a lone surrogate', () => {
    const s = sample('register-utility')
    const op = structuredClone(s.op) as Loose
    op.body.label = 'City \uD800Power'
    expectDecodeError(() => signOp(op as UnsignedOp, s.signer.secretKey), 'op.body.label', /well-formed Unicode/)
    op.body.label = 'City \uDFFF'
    expectDecodeError(() => decodeUnsignedOp(op), 'op.body.label', /well-formed Unicode/)
    // a proper pair is fine
    op.body.label = 'City \u{1F31E} Power'
    const signed = signOp(op as UnsignedOp, s.signer.secretKey)
    expect((decodeOp(signed.bytes).op.body as { label: string }).label).toBe('City \u{1F31E} Power')
  })

  it('is deterministic, and different ops or keys give different signatures', () => {
    const a = signOp(mint.op, mint.signer.secretKey)
    const b = signOp(structuredClone(mint.op), mint.signer.secretKey)
    expect(toHex(a.op.sig)).toBe(toHex(b.op.sig))
    const c = signOp({ ...mint.op, ts: mint.op.ts + 1 }, mint.signer.secretKey)
    expect(toHex(c.op.sig)).not.toBe(toHex(a.op.sig))
    expect(toHex(c.id)).not.toBe(toHex(a.id))
  })
})
