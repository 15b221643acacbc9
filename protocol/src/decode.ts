/**
 * Strict runtime decoding: every field is checked for type, size and range, unknown fields, kinds
 * and versions are rejected, and the error names the field and what was expected.
 */
import { compareBytes } from './bytes.ts'
import { OpDecodeError } from './errors.ts'
import {
  CONTRACTS, DEVICE_CATEGORIES, LIMITS, MIN_BEACON_INTERVAL_MS, OP_KINDS_OF_VERSION, PROTOCOL_VERSIONS,
  type BodyOf, type Dep, type FundingWindow, type GridPolicy, type OpKind, type OpRef, type ProtocolVersion,
  type PublicKey, type RegisterBody, type SignedOp, type TransferBody, type UnsignedOp
} from './ops.ts'

type Fields = Record<string, unknown>
const utf8 = new TextEncoder()

/**
 * A map with exactly `keys`. `newer` are keys v2 added, passed when decoding a v1 op: present, they
 * are refused first, and the error says they are new in v2.
 */
function map (value: unknown, field: string, keys: readonly string[], newer: readonly string[] = []): Fields {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw new OpDecodeError(field, 'a map', value)
  }
  const fields = value as Fields
  for (const key of newer) {
    if (Object.hasOwn(fields, key)) throw new OpDecodeError(`${field}.${key}`, 'no such field in a v1 op (it is new in v2)')
  }
  for (const key in fields) {
    if (Object.hasOwn(fields, key) && !keys.includes(key)) throw new OpDecodeError(`${field}.${key}`, 'no such field')
  }
  for (const key of keys) {
    if (!Object.hasOwn(fields, key)) throw new OpDecodeError(`${field}.${key}`, 'a value', undefined)
  }
  return fields
}

function uint (value: unknown, field: string, min = 0): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new OpDecodeError(field, min === 0 ? 'a non-negative safe integer' : `a safe integer ≥ ${min}`, value)
  }
  return value
}

function int (value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new OpDecodeError(field, `an integer from ${min} to ${max}`, value)
  }
  return value
}

function bytes (value: unknown, field: string, length: number): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length !== length) {
    throw new OpDecodeError(field, `${length} bytes`, value)
  }
  return value
}

export function publicKey (value: unknown, field: string): PublicKey {
  const key = bytes(value, field, 33)
  if (key[0] !== 2 && key[0] !== 3) throw new OpDecodeError(field, 'a compressed secp256k1 key (0x02 or 0x03 first)', value)
  return key
}

function text (value: unknown, field: string, maxBytes: number, minChars = 1): string {
  // A UTF-16 code unit takes at most 3 UTF-8 bytes: most texts are within the bound without encoding them.
  if (typeof value !== 'string' || value.length < minChars || (value.length * 3 > maxBytes && utf8.encode(value).length > maxBytes)) {
    throw new OpDecodeError(field, `text of ${minChars} to ${maxBytes} UTF-8 bytes`, value)
  }
  if (/\p{Cc}/u.test(value)) throw new OpDecodeError(field, 'text without control characters', value)
  // a lone surrogate would be encoded as U+FFFD, so the signed bytes would not say what the op says
  if (/\p{Cs}/u.test(value)) throw new OpDecodeError(field, 'well-formed Unicode text (no lone surrogates)', value)
  return value
}

function oneOf<T extends string> (value: unknown, field: string, options: readonly T[]): T {
  if (typeof value !== 'string' || !(options as readonly string[]).includes(value)) {
    throw new OpDecodeError(field, `one of ${options.join(', ')}`, value)
  }
  return value as T
}

function list (value: unknown, field: string, max: number, min = 0): unknown[] {
  if (!Array.isArray(value) || value.length > max || value.length < min) {
    throw new OpDecodeError(field, `a list of ${min} to ${max} items`, value)
  }
  // A sparse array is copied: its holes become undefined and are refused item by item. Callers only
  // read the list or map it, so a list without holes is taken as it is.
  for (let i = 0; i < value.length; i++) if (!(i in value)) return Array.from(value)
  return value
}

function sortedKeys (value: unknown, field: string): PublicKey[] {
  const keys = list(value, field, LIMITS.maxKeysInGenesis, 1).map((k, i) => publicKey(k, `${field}[${i}]`))
  for (let i = 1; i < keys.length; i++) {
    if (compareBytes(keys[i - 1] as Uint8Array, keys[i] as Uint8Array) >= 0) throw new OpDecodeError(field, 'keys sorted ascending, without repeats')
  }
  return keys
}

function ref (value: unknown, field: string): OpRef {
  const pair = list(value, field, 2, 2)
  return [publicKey(pair[0], `${field}[0]`), uint(pair[1], `${field}[1]`)]
}

function currency (value: unknown, field: string): string {
  if (typeof value !== 'string' || !/^[A-Z]{3}$/.test(value)) throw new OpDecodeError(field, 'an ISO 4217 code such as "USD"', value)
  return value
}

/** The policy fields v2 added to the genesis op: none in a v1 genesis, both in a v2 one. */
const V2_POLICY_FIELDS = ['beaconIntervalMs', 'mintSlackMs'] as const

function policy (value: unknown, field: string, v: ProtocolVersion): GridPolicy {
  const p = map(value, field, v === 1 ? ['friendlyCreditHours'] : ['friendlyCreditHours', ...V2_POLICY_FIELDS], v === 1 ? V2_POLICY_FIELDS : [])
  const hours = list(p.friendlyCreditHours, `${field}.friendlyCreditHours`, 24)
    .map((h, i) => int(h, `${field}.friendlyCreditHours[${i}]`, 0, 23))
  for (let i = 1; i < hours.length; i++) {
    if ((hours[i - 1] as number) >= (hours[i] as number)) throw new OpDecodeError(`${field}.friendlyCreditHours`, 'hours sorted ascending, without repeats')
  }
  if (v === 1) return { friendlyCreditHours: hours }
  return {
    friendlyCreditHours: hours,
    beaconIntervalMs: uint(p.beaconIntervalMs, `${field}.beaconIntervalMs`, MIN_BEACON_INTERVAL_MS),
    mintSlackMs: uint(p.mintSlackMs, `${field}.mintSlackMs`)
  }
}

const decodeBody: { [K in OpKind]: (value: unknown, field: string, v: ProtocolVersion) => BodyOf[K] } = {
  genesis (value, field, v) {
    const b = map(value, field, ['name', 'currency', 'registrars', 'oracles', 'policy'])
    const p = policy(b.policy, `${field}.policy`, v)
    return {
      name: text(b.name, `${field}.name`, LIMITS.maxNameBytes),
      currency: currency(b.currency, `${field}.currency`),
      registrars: sortedKeys(b.registrars, `${field}.registrars`),
      oracles: sortedKeys(b.oracles, `${field}.oracles`),
      policy: p
    }
  },
  register (value, field): RegisterBody {
    if (value === null || typeof value !== 'object') throw new OpDecodeError(field, 'a map', value)
    const role = oneOf((value as Fields).role, `${field}.role`, ['producer', 'consumer', 'utility'] as const)
    if (role === 'producer') {
      const b = map(value, field, ['role', 'account', 'meter', 'capacityW', 'label'])
      const body = {
        role,
        account: publicKey(b.account, `${field}.account`),
        meter: publicKey(b.meter, `${field}.meter`),
        capacityW: uint(b.capacityW, `${field}.capacityW`, 1),
        label: text(b.label, `${field}.label`, LIMITS.maxLabelBytes)
      }
      if (compareBytes(body.account, body.meter) === 0) throw new OpDecodeError(`${field}.meter`, 'a key other than the account')
      return body
    }
    if (role === 'consumer') {
      const b = map(value, field, ['role', 'meter', 'label', 'category', 'position'])
      let position: readonly [number, number] | null = null
      if (b.position !== null) {
        const p = list(b.position, `${field}.position`, 2, 2)
        position = [int(p[0], `${field}.position[0]`, -90_000_000, 90_000_000), int(p[1], `${field}.position[1]`, -180_000_000, 180_000_000)]
      }
      return {
        role,
        meter: publicKey(b.meter, `${field}.meter`),
        label: text(b.label, `${field}.label`, LIMITS.maxLabelBytes),
        category: oneOf(b.category, `${field}.category`, DEVICE_CATEGORIES),
        position
      }
    }
    const b = map(value, field, ['role', 'account', 'label'])
    return { role, account: publicKey(b.account, `${field}.account`), label: text(b.label, `${field}.label`, LIMITS.maxLabelBytes) }
  },
  price (value, field) {
    const b = map(value, field, ['wholesale', 'retail'])
    const wholesale = b.wholesale === null ? null : uint(b.wholesale, `${field}.wholesale`, 1)
    const retail = b.retail === null ? null : uint(b.retail, `${field}.retail`, 1)
    if (wholesale === null && retail === null) throw new OpDecodeError(field, 'a wholesale or a retail price')
    return { wholesale, retail }
  },
  mint (value, field) {
    const b = map(value, field, ['wh', 'total'])
    return { wh: uint(b.wh, `${field}.wh`, 1), total: uint(b.total, `${field}.total`, 1) }
  },
  burn (value, field) {
    const b = map(value, field, ['wh', 'total'])
    return { wh: uint(b.wh, `${field}.wh`, 1), total: uint(b.total, `${field}.total`, 1) }
  },
  receipt (value, field) {
    const b = map(value, field, ['payer', 'payee', 'contract', 'amount', 'currency', 'paymentId'])
    const body = {
      payer: publicKey(b.payer, `${field}.payer`),
      payee: publicKey(b.payee, `${field}.payee`),
      contract: oneOf(b.contract, `${field}.contract`, ['wholesale-seller', 'retail-seller'] as const),
      amount: uint(b.amount, `${field}.amount`, 1),
      currency: currency(b.currency, `${field}.currency`),
      paymentId: text(b.paymentId, `${field}.paymentId`, LIMITS.maxPaymentIdBytes)
    }
    if (compareBytes(body.payer, body.payee) === 0) throw new OpDecodeError(`${field}.payee`, 'an account other than the payer')
    return body
  },
  transfer (value, field): TransferBody {
    const b = map(value, field, ['contract', 'to', 'wh', 'receipt', 'window'])
    const contract = oneOf(b.contract, `${field}.contract`, CONTRACTS)
    const to = publicKey(b.to, `${field}.to`)
    const wh = uint(b.wh, `${field}.wh`, 1)
    if (contract === 'resident') {
      if (b.receipt !== null) throw new OpDecodeError(`${field}.receipt`, 'null for contract resident', b.receipt)
      let window: FundingWindow | null = null
      if (b.window !== null) {
        const w = map(b.window, `${field}.window`, ['from', 'until'])
        window = { from: uint(w.from, `${field}.window.from`), until: uint(w.until, `${field}.window.until`) }
        if (window.until <= window.from) throw new OpDecodeError(`${field}.window.until`, 'a time after window.from', window.until)
      }
      return { contract, to, wh, receipt: null, window }
    }
    if (b.window !== null) throw new OpDecodeError(`${field}.window`, `null for contract ${contract}`, b.window)
    return { contract, to, wh, receipt: ref(b.receipt, `${field}.receipt`), window: null }
  },
  unfreeze (value, field) {
    const b = map(value, field, ['account', 'seq'])
    return { account: publicKey(b.account, `${field}.account`), seq: uint(b.seq, `${field}.seq`) }
  },
  beacon (value, field) {
    map(value, field, [])
    return {}
  }
}

const ENVELOPE = ['v', 'grid', 'kind', 'author', 'seq', 'prev', 'deps', 'ts', 'body'] as const
const SIGNED_ENVELOPE = [...ENVELOPE, 'sig'] as const

function decodeEnvelope (value: unknown, signed: boolean): UnsignedOp & { sig?: Uint8Array } {
  const field = 'op'
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw new OpDecodeError(field, 'a map', value)
  }
  const raw = value as Fields
  const v = raw.v
  if (!(PROTOCOL_VERSIONS as readonly unknown[]).includes(v)) throw new OpDecodeError('op.v', `protocol version ${PROTOCOL_VERSIONS.join(' or ')}`, v)
  const version = v as ProtocolVersion
  const f = map(value, field, signed ? SIGNED_ENVELOPE : ENVELOPE)
  const kinds = OP_KINDS_OF_VERSION[version]
  if (f.kind === 'beacon' && !kinds.includes('beacon')) throw new OpDecodeError('op.kind', `one of ${kinds.join(', ')} in a v${version} op (beacon is new in v2)`, f.kind)
  const kind = oneOf(f.kind, 'op.kind', kinds)
  const author = publicKey(f.author, 'op.author')
  const seq = uint(f.seq, 'op.seq')
  const grid = kind === 'genesis'
    ? (f.grid === null ? null : (() => { throw new OpDecodeError('op.grid', 'null in a genesis op', f.grid) })())
    : bytes(f.grid, 'op.grid', 32)
  if (kind === 'genesis' && seq !== 0) throw new OpDecodeError('op.seq', '0 in a genesis op', seq)
  const prev = seq === 0
    ? (f.prev === null ? null : (() => { throw new OpDecodeError('op.prev', 'null at seq 0', f.prev) })())
    : bytes(f.prev, 'op.prev', 32)
  const deps = list(f.deps, 'op.deps', LIMITS.maxDeps).map((d, i): Dep => {
    const pair = list(d, `op.deps[${i}]`, 2, 2)
    return [publicKey(pair[0], `op.deps[${i}][0]`), uint(pair[1], `op.deps[${i}][1]`)]
  })
  for (let i = 0; i < deps.length; i++) {
    const dep = deps[i] as Dep
    if (compareBytes(dep[0], author) === 0) throw new OpDecodeError(`op.deps[${i}]`, 'another author (prev already names the own chain)')
    if (i > 0 && compareBytes((deps[i - 1] as Dep)[0], dep[0]) >= 0) throw new OpDecodeError('op.deps', 'authors sorted ascending, one entry each')
  }
  const ts = uint(f.ts, 'op.ts')
  const body = decodeBody[kind](f.body, 'op.body', version)
  const op = { v: version, grid, kind, author, seq, prev, deps, ts, body } as UnsignedOp & { sig?: Uint8Array }
  if (signed) op.sig = bytes(f.sig, 'op.sig', 64)
  return op
}

/** Checks an unsigned op built in memory (before signing) with the same rules the wire decoder uses. */
export function decodeUnsignedOp (value: unknown): UnsignedOp {
  return decodeEnvelope(value, false)
}

/** Checks a signed op value (already parsed from CBOR) field by field. */
export function decodeSignedOp (value: unknown): SignedOp {
  return decodeEnvelope(value, true) as SignedOp
}
