/**
 * The light protocol: how a light peer (a meter agent) that holds only its own chain uses the full
 * nodes it trusts. One request and one response per libp2p stream, each a length-prefixed DAG-CBOR
 * map. See PROTOCOL.md ("Light peers"). Every decoder checks types and bounds and throws
 * `LightProtocolError` naming the field.
 *
 *   draft   what the author's next op must say (seq, prev, deps, the chain's last ts and reading)
 *   funds   a consumer device's funds at a time (core's `fundsOf`)
 *   watch   the same, answered once they differ from what the meter knows (or after `waitMs`): a long
 *           poll, so a meter switches on within moments of being funded
 *   submit  signed ops to apply and gossip; the result of each
 *   report  the meter's relay state and warnings, for the node's UI: signed by the meter's key (not an op:
 *           nothing of it enters the ledger)
 */
import * as dagCbor from '@ipld/dag-cbor'
import { sha256 } from '@noble/hashes/sha2.js'
import type { Dep, OpId, PublicKey } from './ops.ts'

export const LIGHT_PROTOCOL = '/microgrid/light/1.0.0'

export const LIGHT_LIMITS = Object.freeze({
  maxMessageBytes: 512 * 1024,
  /** Ops in one `submit`. */
  maxOps: 256,
  maxWindows: 1_000,
  maxFunders: 1_000,
  maxText: 1024,
  maxWarnings: 16,
  maxFaults: 16,
  /** The longest a `watch` waits before it answers. */
  maxWaitMs: 60_000
})

export class LightProtocolError extends Error {
  override readonly name = 'LightProtocolError'
}

export type DraftKind = 'mint' | 'burn'

export interface DraftRequest { t: 'draft', grid: Uint8Array, author: PublicKey, kind: DraftKind }
export interface FundsRequest { t: 'funds', grid: Uint8Array, device: PublicKey, at: number }
export interface SubmitRequest { t: 'submit', grid: Uint8Array, ops: Uint8Array[] }
/** A meter's report, signed by its key (`signReport`): nobody else can speak for a device. */
export interface ReportRequest { t: 'report', grid: Uint8Array, device: PublicKey, report: MeterReport, sig: Uint8Array }
/**
 * A long poll for a device's funds: the node answers with a `funds` response as soon as the device's
 * `balance` or `burned` differ from `known` (at once when they already do, or when `known` is null),
 * and otherwise after `waitMs` (at most {@link LIGHT_LIMITS.maxWaitMs}) with the funds at that time.
 */
export interface WatchRequest { t: 'watch', grid: Uint8Array, device: PublicKey, known: { balance: number, burned: number } | null, waitMs: number }
export type LightRequest = DraftRequest | FundsRequest | SubmitRequest | ReportRequest | WatchRequest

/**
 * The author's chain as the node holds it. `seq`/`prev` name the next position only when `settled`:
 * no op of the author is held undecided (pending, frozen) and the chain is not frozen. A light peer
 * never signs otherwise — that is how it never forks its own chain.
 */
export interface DraftResponse {
  t: 'draft'
  seq: number
  prev: OpId | null
  /** The ts of the chain's last decided op (a new op's ts may not be earlier), 0 if none. */
  lastTs: number
  /** The meter's cumulative reading after its last accepted mint or burn, or null. */
  reading: number | null
  deps: Dep[]
  /** The highest seq of any op of the author the node holds (decided or not), −1 if none. */
  held: number
  settled: boolean
  frozen: boolean
}

export interface LightWindow { funder: PublicKey, from: number, until: number, remaining: number, state: 'upcoming' | 'open' | 'ended', declared: boolean }
export interface LightFunder { funder: PublicKey, put: number, burned: number, returned: number, held: number }
export interface LightFunds {
  at: number
  registered: boolean
  usableNow: number
  general: number
  burned: number
  balance: number
  nextChange: number | null
  windows: LightWindow[]
  funders: LightFunder[]
}
export interface FundsResponse { t: 'funds', funds: LightFunds }

export interface SubmitResult { id: OpId, status: string, code: string | null, reason: string | null }
export interface SubmitResponse { t: 'submitted', results: SubmitResult[] }

/** What a meter agent publishes about itself: its relay and why, warnings, estimates, faults. */
export interface MeterReport {
  at: number
  relay: boolean
  reason: string
  usableWh: number
  daysRemaining: number | null
  watts: number
  /** Low-balance thresholds (Wh) the usable balance is at or below. */
  warnings: number[]
  faults: string[]
  /** Wh metered and not yet in the ledger (offline or waiting to sign). */
  queuedWh: number
}

export interface OkResponse { t: 'ok' }
export interface ErrorResponse { t: 'error', message: string }
export type LightResponse = DraftResponse | FundsResponse | SubmitResponse | OkResponse | ErrorResponse

/** Domain of a report's signature: no op id (the hash of a DAG-CBOR map) can equal a report digest. */
const REPORT_DOMAIN = new TextEncoder().encode('microgrid/light/report/v1\n')

/** What a report's signature covers: its grid, its device and the report, canonically encoded. */
export function reportDigest (grid: Uint8Array, device: PublicKey, report: MeterReport): Uint8Array {
  const body = dagCbor.encode({ grid, device, report })
  const message = new Uint8Array(REPORT_DOMAIN.length + body.length)
  message.set(REPORT_DOMAIN, 0)
  message.set(body, REPORT_DOMAIN.length)
  return sha256(message)
}

/** A `report` request signed by the meter's own key. */
export function signReport (signer: { publicKey: PublicKey, sign: (digest: Uint8Array) => Uint8Array }, grid: Uint8Array, report: MeterReport): ReportRequest {
  return { t: 'report', grid, device: signer.publicKey, report, sig: signer.sign(reportDigest(grid, signer.publicKey, report)) }
}

export function encodeLight (message: LightRequest | LightResponse): Uint8Array {
  const bytes = dagCbor.encode(message)
  if (bytes.length > LIGHT_LIMITS.maxMessageBytes) throw new LightProtocolError(`message of ${bytes.length} bytes exceeds ${LIGHT_LIMITS.maxMessageBytes}`)
  return bytes
}

// ---------------------------------------------------------------------------------------------------
// Strict decoding

type Fields = Record<string, unknown>

function parse (bytes: Uint8Array): Fields {
  if (bytes.length > LIGHT_LIMITS.maxMessageBytes) throw new LightProtocolError(`message of ${bytes.length} bytes exceeds ${LIGHT_LIMITS.maxMessageBytes}`)
  let value: unknown
  try {
    value = dagCbor.decode(bytes)
  } catch (err) {
    throw new LightProtocolError(`not DAG-CBOR: ${(err as Error).message}`)
  }
  return map(value, 'message')
}

function map (value: unknown, field: string, keys?: readonly string[]): Fields {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) throw new LightProtocolError(`${field}: expected a map`)
  const fields = value as Fields
  if (keys !== undefined) {
    for (const k of Object.keys(fields)) if (!keys.includes(k)) throw new LightProtocolError(`${field}.${k}: no such field`)
    for (const k of keys) if (!Object.hasOwn(fields, k)) throw new LightProtocolError(`${field}.${k}: missing`)
  }
  return fields
}

function uint (value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new LightProtocolError(`${field}: expected a non-negative safe integer`)
  return value
}

function int (value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new LightProtocolError(`${field}: expected a safe integer`)
  return value
}

function bytes (value: unknown, field: string, length?: number): Uint8Array {
  if (!(value instanceof Uint8Array) || (length !== undefined && value.length !== length)) throw new LightProtocolError(`${field}: expected ${length ?? 'some'} bytes`)
  return value
}

function key (value: unknown, field: string): PublicKey {
  const k = bytes(value, field, 33)
  if (k[0] !== 2 && k[0] !== 3) throw new LightProtocolError(`${field}: expected a compressed secp256k1 key`)
  return k
}

function text (value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length > LIGHT_LIMITS.maxText) throw new LightProtocolError(`${field}: expected text of at most ${LIGHT_LIMITS.maxText} characters`)
  return value
}

function list (value: unknown, field: string, max: number): unknown[] {
  if (!Array.isArray(value) || value.length > max) throw new LightProtocolError(`${field}: expected a list of at most ${max} items`)
  return value
}

function nullable<T> (value: unknown, read: (v: unknown) => T): T | null {
  return value === null ? null : read(value)
}

function oneOf<T extends string> (value: unknown, field: string, options: readonly T[]): T {
  if (typeof value !== 'string' || !(options as readonly string[]).includes(value)) throw new LightProtocolError(`${field}: expected one of ${options.join(', ')}`)
  return value as T
}

export function decodeLightRequest (data: Uint8Array): LightRequest {
  const raw = parse(data)
  const t = oneOf(raw.t, 'message.t', ['draft', 'funds', 'submit', 'report', 'watch'] as const)
  switch (t) {
    case 'draft': {
      const f = map(raw, 'draft', ['t', 'grid', 'author', 'kind'])
      return { t, grid: bytes(f.grid, 'draft.grid', 32), author: key(f.author, 'draft.author'), kind: oneOf(f.kind, 'draft.kind', ['mint', 'burn'] as const) }
    }
    case 'funds': {
      const f = map(raw, 'funds', ['t', 'grid', 'device', 'at'])
      return { t, grid: bytes(f.grid, 'funds.grid', 32), device: key(f.device, 'funds.device'), at: uint(f.at, 'funds.at') }
    }
    case 'submit': {
      const f = map(raw, 'submit', ['t', 'grid', 'ops'])
      return { t, grid: bytes(f.grid, 'submit.grid', 32), ops: list(f.ops, 'submit.ops', LIGHT_LIMITS.maxOps).map((o, i) => bytes(o, `submit.ops[${i}]`)) }
    }
    case 'report': {
      const f = map(raw, 'report', ['t', 'grid', 'device', 'report', 'sig'])
      return { t, grid: bytes(f.grid, 'report.grid', 32), device: key(f.device, 'report.device'), report: meterReport(f.report), sig: bytes(f.sig, 'report.sig', 64) }
    }
    case 'watch': {
      const f = map(raw, 'watch', ['t', 'grid', 'device', 'known', 'waitMs'])
      const waitMs = uint(f.waitMs, 'watch.waitMs')
      if (waitMs > LIGHT_LIMITS.maxWaitMs) throw new LightProtocolError(`watch.waitMs: at most ${LIGHT_LIMITS.maxWaitMs}`)
      const known = nullable(f.known, v => {
        const k = map(v, 'watch.known', ['balance', 'burned'])
        return { balance: int(k.balance, 'watch.known.balance'), burned: uint(k.burned, 'watch.known.burned') }
      })
      return { t, grid: bytes(f.grid, 'watch.grid', 32), device: key(f.device, 'watch.device'), known, waitMs }
    }
  }
}

function meterReport (value: unknown): MeterReport {
  const r = map(value, 'report.report', ['at', 'relay', 'reason', 'usableWh', 'daysRemaining', 'watts', 'warnings', 'faults', 'queuedWh'])
  if (typeof r.relay !== 'boolean') throw new LightProtocolError('report.report.relay: expected true or false')
  return {
    at: uint(r.at, 'report.report.at'),
    relay: r.relay,
    reason: text(r.reason, 'report.report.reason'),
    usableWh: int(r.usableWh, 'report.report.usableWh'),
    daysRemaining: nullable(r.daysRemaining, v => { if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new LightProtocolError('report.report.daysRemaining: expected a non-negative number'); return v }),
    watts: uint(r.watts, 'report.report.watts'),
    warnings: list(r.warnings, 'report.report.warnings', LIGHT_LIMITS.maxWarnings).map((w, i) => uint(w, `report.report.warnings[${i}]`)),
    faults: list(r.faults, 'report.report.faults', LIGHT_LIMITS.maxFaults).map((w, i) => text(w, `report.report.faults[${i}]`)),
    queuedWh: uint(r.queuedWh, 'report.report.queuedWh')
  }
}

export function decodeLightResponse (data: Uint8Array): LightResponse {
  const raw = parse(data)
  const t = oneOf(raw.t, 'message.t', ['draft', 'funds', 'submitted', 'ok', 'error'] as const)
  switch (t) {
    case 'draft': {
      const f = map(raw, 'draft', ['t', 'seq', 'prev', 'lastTs', 'reading', 'deps', 'held', 'settled', 'frozen'])
      if (typeof f.settled !== 'boolean' || typeof f.frozen !== 'boolean') throw new LightProtocolError('draft.settled, draft.frozen: expected true or false')
      return {
        t,
        seq: uint(f.seq, 'draft.seq'),
        prev: nullable(f.prev, v => bytes(v, 'draft.prev', 32)),
        lastTs: uint(f.lastTs, 'draft.lastTs'),
        reading: nullable(f.reading, v => uint(v, 'draft.reading')),
        deps: list(f.deps, 'draft.deps', 64).map((d, i) => {
          const pair = list(d, `draft.deps[${i}]`, 2)
          return [key(pair[0], `draft.deps[${i}][0]`), uint(pair[1], `draft.deps[${i}][1]`)] as const
        }),
        held: int(f.held, 'draft.held'),
        settled: f.settled,
        frozen: f.frozen
      }
    }
    case 'funds': {
      const f = map(raw, 'funds', ['t', 'funds'])
      const x = map(f.funds, 'funds.funds', ['at', 'registered', 'usableNow', 'general', 'burned', 'balance', 'nextChange', 'windows', 'funders'])
      if (typeof x.registered !== 'boolean') throw new LightProtocolError('funds.funds.registered: expected true or false')
      return {
        t,
        funds: {
          at: uint(x.at, 'funds.at'),
          registered: x.registered,
          usableNow: uint(x.usableNow, 'funds.usableNow'),
          general: uint(x.general, 'funds.general'),
          burned: uint(x.burned, 'funds.burned'),
          balance: int(x.balance, 'funds.balance'),
          nextChange: nullable(x.nextChange, v => uint(v, 'funds.nextChange')),
          windows: list(x.windows, 'funds.windows', LIGHT_LIMITS.maxWindows).map((w, i) => {
            const y = map(w, `funds.windows[${i}]`, ['funder', 'from', 'until', 'remaining', 'state', 'declared'])
            if (typeof y.declared !== 'boolean') throw new LightProtocolError(`funds.windows[${i}].declared: expected true or false`)
            return { funder: key(y.funder, `funds.windows[${i}].funder`), from: uint(y.from, 'from'), until: uint(y.until, 'until'), remaining: uint(y.remaining, 'remaining'), state: oneOf(y.state, `funds.windows[${i}].state`, ['upcoming', 'open', 'ended'] as const), declared: y.declared }
          }),
          funders: list(x.funders, 'funds.funders', LIGHT_LIMITS.maxFunders).map((w, i) => {
            const y = map(w, `funds.funders[${i}]`, ['funder', 'put', 'burned', 'returned', 'held'])
            return { funder: key(y.funder, `funds.funders[${i}].funder`), put: uint(y.put, 'put'), burned: uint(y.burned, 'burned'), returned: uint(y.returned, 'returned'), held: uint(y.held, 'held') }
          })
        }
      }
    }
    case 'submitted': {
      const f = map(raw, 'submitted', ['t', 'results'])
      return {
        t,
        results: list(f.results, 'submitted.results', LIGHT_LIMITS.maxOps).map((r, i) => {
          const y = map(r, `submitted.results[${i}]`, ['id', 'status', 'code', 'reason'])
          return { id: bytes(y.id, `submitted.results[${i}].id`, 32), status: text(y.status, 'status'), code: nullable(y.code, v => text(v, 'code')), reason: nullable(y.reason, v => text(v, 'reason')) }
        })
      }
    }
    case 'ok': map(raw, 'ok', ['t']); return { t }
    case 'error': {
      const f = map(raw, 'error', ['t', 'message'])
      return { t, message: text(f.message, 'error.message') }
    }
  }
}
