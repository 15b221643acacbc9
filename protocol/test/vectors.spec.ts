/**
 * The frozen test vectors (vectors/*.json) against the code. Every byte string, id and signature is
 * compared with the frozen value: any change to the wire format, the id or the signature scheme fails
 * here. The v1 vectors (01-16, invalid.json) were written once by vectors/generate.ts, the v2 ones
 * (17-20, invalid-v2.json) later by its --only-new mode; never regenerate them to make this pass.
 */
import { createPublicKey, verify as cryptoVerify } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { sha256 } from '@noble/hashes/sha2.js'
import { describe, expect, it } from 'vitest'
import {
  accountId, compactFromDer, CONTRACTS, decodeOp, DEFAULT_BEACON_INTERVAL_MS, DEFAULT_MINT_SLACK_MS, deviceUri,
  encodeSignedOp, encodeUnsignedOp, fromHex, gridIdText, isLowSCompact, nobleVerifier, OP_KINDS, OP_KINDS_OF_VERSION,
  OpDecodeError, opId, parseAccountId, parseDeviceUri, parseGridId, policyOf, PROTOCOL_VERSIONS, publicKeyOf,
  SignatureError, signOp, toHex, verifyOp, type GenesisBody, type SignedOp, type UnsignedOp
} from '../src/index.ts'
import * as cbor from './helpers/cbor.ts'

const dir = fileURLToPath(new URL('./vectors/', import.meta.url))

interface Vector {
  name: string
  description: string
  signer: string
  secretKey: string
  publicKey: string
  accountId: string
  gridId: string
  deviceUri: string
  op: Record<string, unknown>
  unsigned: string
  id: string
  sig: string
  sigDer: string
  wire: string
}

interface InvalidVector {
  name: string
  description: string
  wire: string
  error: { type: 'OpDecodeError', field: string } | { type: 'SignatureError' }
}

const EXPECTED = [
  '01-genesis', '02-register-utility', '03-register-producer', '04-register-consumer', '05-price-wholesale',
  '06-price-retail', '07-mint-first', '08-mint', '09-receipt-wholesale', '10-transfer-wholesale-seller',
  '11-receipt-retail', '12-transfer-retail-seller', '13-transfer-resident', '14-transfer-resident-window',
  '15-burn', '16-unfreeze'
]
/** Added with v2, as new files: the frozen v1 files above are untouched. */
const EXPECTED_V2 = ['17-v2-beacon', '18-v2-mint', '19-v2-genesis', '20-v2-beacon-oracle']

const files = readdirSync(dir).filter(f => /^\d\d-.*\.json$/.test(f)).sort()
const vectors: Vector[] = files.map(f => JSON.parse(readFileSync(dir + f, 'utf8')) as Vector)
const invalidV1 = JSON.parse(readFileSync(dir + 'invalid.json', 'utf8')) as InvalidVector[]
const invalidV2 = JSON.parse(readFileSync(dir + 'invalid-v2.json', 'utf8')) as InvalidVector[]
/**
 * invalid.json is frozen and predates v2. Its `version-2` is a correctly signed v2 mint: a v1-only
 * reader refuses it as `op.v`, this one accepts it (checked below); invalid-v2.json's `version-3`
 * takes its place.
 */
const SUPERSEDED_BY_V2 = new Set(['version-2'])
const invalid = [...invalidV1.filter(v => !SUPERSEDED_BY_V2.has(v.name)), ...invalidV2]

/** The JSON form back to an op: the fields that hold byte strings are hex. */
const BYTES = new Set(['grid', 'author', 'prev', 'account', 'meter', 'payer', 'payee', 'to'])
function fromJson (key: string, value: unknown): unknown {
  if (value === null) return null
  if (BYTES.has(key)) return fromHex(value as string)
  if (key === 'registrars' || key === 'oracles') return (value as string[]).map(fromHex)
  if (key === 'deps') return (value as Array<[string, number]>).map(([a, seq]) => [fromHex(a), seq])
  if (key === 'receipt') {
    const [a, seq] = value as [string, number]
    return [fromHex(a), seq]
  }
  if (Array.isArray(value)) return value.map(v => fromJson('', v))
  if (typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromJson(k, v)]))
  return value
}
const opOf = (v: Vector): UnsignedOp => fromJson('', v.op) as UnsignedOp

/** SubjectPublicKeyInfo for a compressed secp256k1 key, for the independent OpenSSL check. */
const SPKI_PREFIX = fromHex('3036301006072a8648ce3d020106052b8104000a032200')
const opensslKey = (publicKey: Uint8Array) =>
  createPublicKey({ key: Buffer.from(cbor.concat(SPKI_PREFIX, publicKey)), format: 'der', type: 'spki' })

describe('the vector set', () => {
  it('holds exactly the expected vectors', () => {
    expect(files.map(f => f.replace(/\.json$/, ''))).toEqual([...EXPECTED, ...EXPECTED_V2])
    expect(vectors.map(v => v.name)).toEqual([...EXPECTED, ...EXPECTED_V2])
    expect(readdirSync(dir).filter(f => f.endsWith('.json') && !/^\d\d-/.test(f)).sort()).toEqual(['invalid-v2.json', 'invalid.json'])
  })

  it('the v1 vectors are v1 and the v2 vectors v2; each version\'s kinds are covered', () => {
    const version = (v: Vector): unknown => v.op.v
    expect(vectors.filter(v => EXPECTED.includes(v.name)).map(version)).toEqual(EXPECTED.map(() => 1))
    expect(vectors.filter(v => EXPECTED_V2.includes(v.name)).map(version)).toEqual(EXPECTED_V2.map(() => 2))
    for (const v of PROTOCOL_VERSIONS) {
      expect(new Set(vectors.map(opOf).filter(o => o.v === v).map(o => o.kind)), `v${v}`).toEqual(new Set(v === 1 ? OP_KINDS_OF_VERSION[1] : ['genesis', 'mint', 'beacon']))
    }
    expect(OP_KINDS_OF_VERSION[2]).toEqual(OP_KINDS)
    expect(OP_KINDS_OF_VERSION[1]).toEqual(OP_KINDS.filter(k => k !== 'beacon'))
  })

  it('a beacon\'s body is the empty map, a0', () => {
    for (const v of vectors.filter(x => x.op.kind === 'beacon')) {
      expect(v.op.body).toEqual({})
      expect(v.unsigned).toContain(toHex(cbor.concat(cbor.tstr('body'), Uint8Array.of(0xa0))))
    }
  })

  it('the genesis policies: v1 has friendlyCreditHours only and takes the defaults, v2 sets the beacon fields', () => {
    const [v1, v2] = vectors.filter(v => v.op.kind === 'genesis').map(v => opOf(v).body as GenesisBody)
    expect(Object.keys((v1 as GenesisBody).policy)).toEqual(['friendlyCreditHours'])
    expect(policyOf(v1 as GenesisBody)).toEqual({ friendlyCreditHours: [0, 1, 2, 3, 4, 5], beaconIntervalMs: DEFAULT_BEACON_INTERVAL_MS, mintSlackMs: DEFAULT_MINT_SLACK_MS })
    expect([DEFAULT_BEACON_INTERVAL_MS, DEFAULT_MINT_SLACK_MS]).toEqual([5 * 60_000, 15 * 60_000])
    expect(policyOf(v2 as GenesisBody)).toEqual({ friendlyCreditHours: [0, 1, 2, 3, 4, 5], beaconIntervalMs: 60_000, mintSlackMs: 180_000 })
    // on the wire in canonical order: mintSlackMs, beaconIntervalMs, friendlyCreditHours (shorter key first)
    const genesis = vectors.find(v => v.name === '19-v2-genesis') as Vector
    expect(genesis.unsigned).toContain(toHex(cbor.concat(
      cbor.tstr('policy'), Uint8Array.of(0xa3), cbor.tstr('mintSlackMs'), cbor.uint(180_000), cbor.tstr('beaconIntervalMs'), cbor.uint(60_000),
      cbor.tstr('friendlyCreditHours'), cbor.array([0, 1, 2, 3, 4, 5].map(h => cbor.uint(h)))
    )))
  })

  it('the v2 mint cites the latest beacon and claims time within the mint slack of its grid', () => {
    const beacon = opOf(vectors.find(v => v.name === '17-v2-beacon') as Vector)
    const mint = opOf(vectors.find(v => v.name === '18-v2-mint') as Vector)
    const genesis = opOf(vectors[0] as Vector).body as GenesisBody
    expect(mint.deps).toEqual([[beacon.author, beacon.seq]])
    expect(mint.ts).toBeGreaterThan(beacon.ts)
    expect(mint.ts).toBeLessThanOrEqual(beacon.ts + policyOf(genesis).mintSlackMs)
  })

  it('covers every op kind, register role, contract and window variant', () => {
    const ops = vectors.map(opOf)
    expect(new Set(ops.map(o => o.kind))).toEqual(new Set(OP_KINDS))
    const bodies = (kind: string) => ops.filter(o => o.kind === kind).map(o => o.body as unknown as Record<string, unknown>)
    expect(new Set(bodies('register').map(b => b.role))).toEqual(new Set(['producer', 'consumer', 'utility']))
    expect(new Set(bodies('transfer').map(b => b.contract))).toEqual(new Set(CONTRACTS))
    expect(new Set(bodies('receipt').map(b => b.contract))).toEqual(new Set(['wholesale-seller', 'retail-seller']))
    const resident = bodies('transfer').filter(b => b.contract === 'resident')
    expect(resident.some(b => b.window === null)).toBe(true)
    expect(resident.some(b => b.window !== null)).toBe(true)
    expect(bodies('price').some(b => b.wholesale === null)).toBe(true)
    expect(bodies('price').some(b => b.retail === null)).toBe(true)
    expect(ops.some(o => o.seq === 0 && o.kind !== 'genesis')).toBe(true)
    expect(ops.some(o => o.deps.length >= 2)).toBe(true)
  })

  it('is a coherent history of two grids: every op on a grid after its genesis, every prev the id of the author\'s op before on that grid', () => {
    const grids = new Map<string, string>() // genesis id -> grid id text
    const heads = new Map<string, { seq: number, id: string }>()
    for (const v of vectors) {
      const op = opOf(v)
      const grid = op.grid === null ? v.id : toHex(op.grid)
      if (op.kind === 'genesis') grids.set(v.id, v.gridId)
      expect(grids.get(grid)).toBe(v.gridId)
      const chain = `${grid}/${toHex(op.author)}`
      const head = heads.get(chain)
      expect(op.seq).toBe(head === undefined ? 0 : head.seq + 1)
      expect(op.prev === null ? null : toHex(op.prev)).toBe(head === undefined ? null : head.id)
      for (const [author, seq] of op.deps) expect((heads.get(`${grid}/${toHex(author)}`)?.seq ?? -1) >= seq).toBe(true)
      heads.set(chain, { seq: op.seq, id: v.id })
    }
    expect([...grids.keys()]).toEqual([(vectors[0] as Vector).id, (vectors.find(v => v.name === '19-v2-genesis') as Vector).id])
  })
})

describe.each(vectors.map(v => [v.name, v] as const))('vector %s', (_name, v) => {
  const op = opOf(v)
  const secretKey = fromHex(v.secretKey)
  const sig = fromHex(v.sig)
  const wire = fromHex(v.wire)

  it('the key pair and the text forms', () => {
    expect(toHex(publicKeyOf(secretKey))).toBe(v.publicKey)
    expect(toHex(op.author)).toBe(v.publicKey)
    expect(accountId(op.author)).toBe(v.accountId)
    expect(toHex(parseAccountId(v.accountId))).toBe(v.publicKey)
    const grid = op.grid ?? fromHex(v.id)
    expect(gridIdText(grid)).toBe(v.gridId)
    expect(toHex(parseGridId(v.gridId))).toBe(toHex(grid))
    expect(deviceUri({ account: op.author, grid })).toBe(v.deviceUri)
    expect(v.deviceUri).toBe(`microgrid:${v.accountId}?grid=${v.gridId}`)
    const link = parseDeviceUri(v.deviceUri)
    expect(toHex(link.account)).toBe(v.publicKey)
    expect(toHex(link.grid)).toBe(toHex(grid))
  })

  it('the unsigned encoding and the id', () => {
    expect(toHex(encodeUnsignedOp(op))).toBe(v.unsigned)
    expect(toHex(opId(op))).toBe(v.id)
    expect(toHex(sha256(fromHex(v.unsigned)))).toBe(v.id)
    // and the encoder written from the rules in PROTOCOL.md, without @ipld/dag-cbor, agrees
    expect(toHex(cbor.encodeCanonical(op))).toBe(v.unsigned)
  })

  it('the signature (RFC 6979: signing again gives the same bytes) and the wire bytes', () => {
    const signed = signOp(op, secretKey)
    expect(toHex(signed.id)).toBe(v.id)
    expect(toHex(signed.op.sig)).toBe(v.sig)
    expect(toHex(signed.bytes)).toBe(v.wire)
    expect(toHex(encodeSignedOp({ ...op, sig } as SignedOp))).toBe(v.wire)
    expect(toHex(signOp(op, secretKey).op.sig)).toBe(v.sig)
    expect(isLowSCompact(sig)).toBe(true)
  })

  it('the wire bytes are the unsigned map with one more entry, "sig", after "seq"', () => {
    const unsigned = fromHex(v.unsigned)
    expect(unsigned[0]).toBe(0xa9) // map of 9
    expect(wire[0]).toBe(0xaa) // map of 10
    // v, ts and seq are the three shortest keys; sig sorts right after seq
    const afterSeq = 1 + cbor.tstr('v').length + cbor.uint(op.v).length + cbor.tstr('ts').length + cbor.uint(op.ts).length +
      cbor.tstr('seq').length + cbor.uint(op.seq).length
    expect(toHex(wire)).toBe(toHex(cbor.concat(
      Uint8Array.of(0xaa), unsigned.subarray(1, afterSeq), cbor.tstr('sig'), cbor.bstr(sig), unsigned.subarray(afterSeq)
    )))
  })

  it('decodes back to the same op, and verifies', () => {
    const decoded = decodeOp(wire)
    expect(decoded.op).toEqual({ ...op, sig })
    expect(toHex(decoded.id)).toBe(v.id)
    expect(toHex(decoded.bytes)).toBe(v.wire)
    expect(() => verifyOp(decoded)).not.toThrow()
    expect(nobleVerifier.verify(sig, fromHex(v.id), op.author)).toBe(true)
  })

  it('is plain ECDSA-SHA256 over the unsigned bytes: OpenSSL agrees, in compact and in DER form', () => {
    const key = opensslKey(op.author)
    const unsigned = Buffer.from(fromHex(v.unsigned))
    expect(cryptoVerify('sha256', unsigned, { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(sig))).toBe(true)
    expect(cryptoVerify('sha256', unsigned, { key, dsaEncoding: 'der' }, Buffer.from(fromHex(v.sigDer)))).toBe(true)
    expect(toHex(compactFromDer(fromHex(v.sigDer)))).toBe(v.sig)
    // and a signature on any other op does not verify on this one
    const other = vectors.find(o => o.id !== v.id) as Vector
    expect(cryptoVerify('sha256', unsigned, { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(fromHex(other.sig)))).toBe(false)
  })
})

describe('invalid vectors', () => {
  it('cover decoding and signature failures', () => {
    expect(invalidV1.length).toBeGreaterThanOrEqual(20)
    expect(new Set([...invalidV1, ...invalidV2].map(v => v.name)).size).toBe(invalidV1.length + invalidV2.length)
    expect(invalid.filter(v => v.error.type === 'SignatureError').map(v => v.name)).toContain('high-s')
    for (const name of ['map-order-bytewise', 'int-long-form', 'float-for-int', 'indefinite-length-map', 'duplicate-key', 'trailing-byte', 'version-2', 'unknown-kind', 'too-large']) {
      expect(invalidV1.map(v => v.name)).toContain(name)
    }
    for (const name of ['version-3', 'v1-beacon', 'v1-genesis-v2-policy', 'v2-genesis-v1-policy', 'v2-genesis-no-mint-slack', 'beacon-body-key', 'beacon-interval-999']) {
      expect(invalidV2.map(v => v.name)).toContain(name)
    }
    expect(invalidV2.filter(v => v.error.type === 'SignatureError').length).toBeGreaterThanOrEqual(1)
  })

  it('version-2 of the frozen v1 set is a correctly signed v2 mint: refused by a v1-only reader (op.v), accepted by a v2 reader', () => {
    const v = invalidV1.find(x => x.name === 'version-2') as InvalidVector
    expect(v.error).toEqual({ type: 'OpDecodeError', field: 'op.v' })
    const mint = vectors.find(x => x.name === '08-mint') as Vector
    const decoded = decodeOp(fromHex(v.wire))
    expect(decoded.op).toEqual({ ...opOf(mint), v: 2, sig: decoded.op.sig })
    expect(toHex(decoded.id)).not.toBe(mint.id)
    expect(toHex(encodeSignedOp(decoded.op))).toBe(v.wire)
    expect(() => verifyOp(decoded)).not.toThrow()
  })

  it.each(invalid.map(v => [v.name, v] as const))('%s', (_name, v) => {
    const wire = fromHex(v.wire)
    if (v.error.type === 'OpDecodeError') {
      let error: unknown
      try {
        decodeOp(wire)
      } catch (err) {
        error = err
      }
      expect(error).toBeInstanceOf(OpDecodeError)
      expect((error as OpDecodeError).field).toBe(v.error.field)
      expect((error as OpDecodeError).message.startsWith(`${v.error.field}: expected `)).toBe(true)
    } else {
      // canonical and well formed: only the signature is wrong
      const decoded = decodeOp(wire)
      expect(toHex(encodeSignedOp(decoded.op))).toBe(v.wire)
      expect(() => verifyOp(decoded)).toThrow(SignatureError)
      expect(nobleVerifier.verify(decoded.op.sig, decoded.id, decoded.op.author)).toBe(false)
    }
  })

  it('the high-S vector is the valid mint signature\'s twin: same r, s replaced by n - s', () => {
    const mint = vectors.find(v => v.name === '08-mint') as Vector
    const highS = decodeOp(fromHex((invalid.find(v => v.name === 'high-s') as InvalidVector).wire))
    expect(toHex(highS.id)).toBe(mint.id)
    expect(toHex(highS.op.sig.subarray(0, 32))).toBe(mint.sig.slice(0, 64))
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
    expect(BigInt('0x' + toHex(highS.op.sig.subarray(32))) + BigInt('0x' + mint.sig.slice(64))).toBe(n)
    expect(isLowSCompact(highS.op.sig)).toBe(false)
  })
})
