/**
 * Fixed keys and a small, coherent history that uses every op kind and variant: one grid whose
 * genesis is v1 (its ops 01-16 are v1, then a v2 beacon and a v2 mint), and a second grid whose
 * genesis is v2. The test vectors were generated from it (see vectors/generate.ts: the v1 vectors
 * once, the v2 ones later with --only-new); the specs use it for valid ops to break. Secret keys are
 * 32 copies of one byte: never use them for anything real.
 */
import * as dagCbor from '@ipld/dag-cbor'
import * as secp from '@noble/secp256k1'
import { sha256 } from '@noble/hashes/sha2.js'
import {
  compareBytes, publicKeyOf, signOp,
  type Dep, type OpId, type ProtocolVersion, type PublicKey, type SignedOp, type UnsignedOp
} from '../../src/index.ts'

export interface Party {
  name: string
  secretKey: Uint8Array
  publicKey: PublicKey
}

export function party (name: string, byte: number): Party {
  const secretKey = new Uint8Array(32).fill(byte)
  return { name, secretKey, publicKey: publicKeyOf(secretKey) }
}

export const registrar = party('registrar', 0x01)
export const utility = party('utility', 0x02)
export const producer = party('producer', 0x03)
export const meter = party('generation meter', 0x04)
export const oracle = party('payment oracle', 0x05)
export const resident = party('resident', 0x06)
export const device = party('street light meter', 0x07)
export const stranger = party('stranger', 0x08)
export const PARTIES = [registrar, utility, producer, meter, oracle, resident, device] as const

/** 2026-01-01T00:00:00.000Z */
export const T0 = 1_767_225_600_000
const MINUTE = 60_000
const DAY = 86_400_000

export interface Sample {
  /** File name stem of the vector, e.g. `08-mint`. */
  name: string
  description: string
  signer: Party
  op: UnsignedOp
  id: OpId
  sig: Uint8Array
  bytes: Uint8Array
}

export interface Scenario {
  /** The grid of vectors 01-18, whose genesis is v1. */
  grid: OpId
  /** The grid of vectors 19-20, whose genesis is v2. */
  v2Grid: OpId
  samples: Sample[]
}

export function sortDeps (deps: Dep[]): Dep[] {
  return [...deps].sort((a, b) => compareBytes(a[0], b[0]))
}

let cached: Scenario | undefined

/** The grid history, signed. Deterministic: RFC 6979 signatures, fixed keys and clocks. */
export function scenario (): Scenario {
  if (cached !== undefined) return structuredClone(cached)
  let heads = new Map<string, { seq: number, id: OpId }>()
  const samples: Sample[] = []
  let grid: OpId | null = null
  let minute = 0

  const add = <K extends UnsignedOp['kind']>(
    name: string, description: string, signer: Party, kind: K,
    body: Extract<UnsignedOp, { kind: K }>['body'], deps: Dep[] = [], ts?: number, v: ProtocolVersion = 1
  ): void => {
    const head = heads.get(signer.name)
    const op = {
      v,
      grid,
      kind,
      author: signer.publicKey,
      seq: head === undefined ? 0 : head.seq + 1,
      prev: head === undefined ? null : head.id,
      deps: sortDeps(deps),
      ts: ts ?? T0 + (minute++) * MINUTE,
      body
    } as UnsignedOp
    const signed = signOp(op, signer.secretKey)
    heads.set(signer.name, { seq: op.seq, id: signed.id })
    if (kind === 'genesis') grid = signed.id
    samples.push({ name: `${String(samples.length + 1).padStart(2, '0')}-${name}`, description, signer, op, id: signed.id, sig: signed.op.sig, bytes: signed.bytes })
  }

  add('genesis', 'The grid: its registrar, its payment oracle, friendly credit from midnight to 06:00.', registrar, 'genesis', {
    name: 'Vector Grid',
    currency: 'USD',
    registrars: [registrar.publicKey],
    oracles: [oracle.publicKey],
    policy: { friendlyCreditHours: [0, 1, 2, 3, 4, 5] }
  })
  add('register-utility', 'The registrar registers the utility.', registrar, 'register', {
    role: 'utility', account: utility.publicKey, label: 'City Power'
  })
  add('register-producer', 'The registrar registers a rooftop producer and its 5 kW generation meter.', registrar, 'register', {
    role: 'producer', account: producer.publicKey, meter: meter.publicKey, capacityW: 5000, label: 'Rooftop solar 12'
  })
  add('register-consumer', 'The registrar registers a street light; negative latitude exercises CBOR major type 1.', registrar, 'register', {
    role: 'consumer', meter: device.publicKey, label: 'Street light 7', category: 'street-light', position: [-1_292_850, 36_821_946]
  })
  add('price-wholesale', 'The producer sets its wholesale price: 12,000 ¢/MWh (12 ¢/kWh), no retail price.', producer, 'price', {
    wholesale: 12_000, retail: null
  }, [[registrar.publicKey, 2]])
  add('price-retail', 'The utility sets its retail price: 12,500 ¢/MWh (12.5 ¢/kWh), no wholesale price.', utility, 'price', {
    wholesale: null, retail: 12_500
  }, [[registrar.publicKey, 1]])
  add('mint-first', 'Contract generator: the meter\'s first mint, 6 kWh.', meter, 'mint', { wh: 6000, total: 6000 }, [[registrar.publicKey, 2]])
  add('mint', 'Contract generator: the meter\'s second mint, 4 kWh, cumulative reading 10 kWh (the worked example in PROTOCOL.md).', meter, 'mint', { wh: 4000, total: 10_000 })
  add('receipt-wholesale', 'The oracle attests that the utility paid the producer $1.20 (wholesale).', oracle, 'receipt', {
    payer: utility.publicKey, payee: producer.publicKey, contract: 'wholesale-seller', amount: 120, currency: 'USD', paymentId: 'pi_vector_0001'
  })
  add('transfer-wholesale-seller', 'Contract wholesale-seller: the producer sells ⌊120 × 1,000,000 ÷ 12,000⌋ = 10,000 Wh to the utility, citing the receipt.', producer, 'transfer', {
    contract: 'wholesale-seller', to: utility.publicKey, wh: 10_000, receipt: [oracle.publicKey, 0], window: null
  }, [[meter.publicKey, 1], [oracle.publicKey, 0]])
  add('receipt-retail', 'The oracle attests that the resident paid the utility $5.00 (retail).', oracle, 'receipt', {
    payer: resident.publicKey, payee: utility.publicKey, contract: 'retail-seller', amount: 500, currency: 'USD', paymentId: 'pi_vector_0002'
  })
  add('transfer-retail-seller', 'Contract retail-seller: the utility sells ⌊500 × 1,000,000 ÷ 12,500⌋ = 40,000 Wh to the resident.', utility, 'transfer', {
    contract: 'retail-seller', to: resident.publicKey, wh: 40_000, receipt: [oracle.publicKey, 1], window: null
  }, [[oracle.publicKey, 1], [producer.publicKey, 1]])
  add('transfer-resident', 'Contract resident: the resident funds the street light with 20 kWh, no window.', resident, 'transfer', {
    contract: 'resident', to: device.publicKey, wh: 20_000, receipt: null, window: null
  }, [[utility.publicKey, 1]])
  add('transfer-resident-window', 'Contract resident: 10 kWh for the street light, usable from 2026-01-02 until before 2026-01-09.', resident, 'transfer', {
    contract: 'resident', to: device.publicKey, wh: 10_000, receipt: null, window: { from: T0 + DAY, until: T0 + 8 * DAY }
  })
  add('burn', 'Contract consumer: the street light burns 500 Wh.', device, 'burn', { wh: 500, total: 500 }, [[resident.publicKey, 1]])
  add('unfreeze', 'The registrar lifts the freeze on the producer\'s fork at seq 1.', registrar, 'unfreeze', {
    account: producer.publicKey, seq: 1
  }, [[producer.publicKey, 1]])

  // ---- v2 ops on the same grid: its genesis is v1, so the default beacon policy applies ----------
  add('v2-beacon', 'v2: the registrar\'s node publishes a time beacon on the v1 grid. Its body is the empty map (a0).', registrar, 'beacon', {}, [], undefined, 2)
  add('v2-mint', 'v2: the meter\'s third mint, 800 Wh, citing the registrar\'s beacon one minute before it (within the default 15-minute mint slack).', meter, 'mint',
    { wh: 800, total: 10_800 }, [[registrar.publicKey, 5]], undefined, 2)

  // ---- a second grid, whose genesis is v2 ------------------------------------------------------
  const v1Grid = grid
  grid = null
  heads = new Map()
  add('v2-genesis', 'v2: a grid whose genesis sets the beacon policy: beacons every minute, mints at most 3 minutes past the latest beacon.', registrar, 'genesis', {
    name: 'Vector Grid 2',
    currency: 'USD',
    registrars: [registrar.publicKey],
    oracles: [oracle.publicKey],
    policy: { friendlyCreditHours: [0, 1, 2, 3, 4, 5], beaconIntervalMs: 60_000, mintSlackMs: 180_000 }
  }, [], undefined, 2)
  add('v2-beacon-oracle', 'v2: the payment oracle\'s node publishes a time beacon on the v2 grid, citing the genesis op.', oracle, 'beacon', {}, [[registrar.publicKey, 0]], undefined, 2)

  cached = { grid: v1Grid as unknown as OpId, v2Grid: grid as unknown as OpId, samples }
  return structuredClone(cached)
}

/** A sample by the name stem after its number, e.g. `sample('mint')`. */
export function sample (name: string): Sample {
  const found = scenario().samples.find(s => s.name.slice(3) === name)
  if (found === undefined) throw new Error(`no sample ${name}`)
  return found
}

/**
 * Signs any map of fields, valid or not, bypassing signOp's checks: for building ops that a peer
 * must refuse even though their signature is good.
 */
export function forceSign (fields: Record<string, unknown>, secretKey: Uint8Array): { id: Uint8Array, sig: Uint8Array, bytes: Uint8Array } {
  const id = sha256(dagCbor.encode(fields))
  const sig = secp.sign(id, secretKey, { prehash: false, lowS: true })
  return { id, sig, bytes: dagCbor.encode({ ...fields, sig }) }
}

/** The op with its signature, as a plain value to encode. */
export function signedValue (s: Sample): SignedOp {
  return { ...structuredClone(s.op), sig: s.sig } as SignedOp
}

export type Path = Array<string | number>

export function pathText (path: Path): string {
  return 'op' + path.map(p => typeof p === 'number' ? `[${p}]` : `.${p}`).join('')
}

/** Every path in a value, containers before their contents (bytes are leaves). */
export function allPaths (value: unknown, prefix: Path = []): Path[] {
  const out: Path[] = []
  if (Array.isArray(value)) {
    value.forEach((v, i) => { out.push([...prefix, i], ...allPaths(v, [...prefix, i])) })
  } else if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    for (const [k, v] of Object.entries(value)) out.push([...prefix, k], ...allPaths(v, [...prefix, k]))
  }
  return out
}

export function getPath (value: unknown, path: Path): unknown {
  let v: unknown = value
  for (const p of path) v = (v as Record<string | number, unknown>)[p]
  return v
}

/** A deep copy with the value at `path` replaced (or deleted when `replacement` is DELETE). */
export const DELETE = Symbol('delete')
export function setPath<T> (value: T, path: Path, replacement: unknown): T {
  const copy = structuredClone(value)
  if (path.length === 0) throw new Error('empty path')
  const parent = getPath(copy, path.slice(0, -1)) as Record<string | number, unknown>
  const last = path[path.length - 1] as string | number
  if (replacement === DELETE) delete parent[last]
  else parent[last] = replacement
  return copy
}
