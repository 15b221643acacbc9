/** How ledger values look in JSON: ids as text, bytes as hex, amounts with their units. */
import { accountId, toHex, type PublicKey, type SignedOp } from '@microgrid/protocol'
import type { IngestResult } from '@microgrid/core'

export interface OpResultJson {
  status: 'applied' | 'rejected' | 'pending' | 'duplicate' | 'void' | 'frozen' | 'dropped'
  id: string
  kind: string
  author: string
  seq: number
  ts: number
  code?: string
  reason?: string
  missing?: Array<{ account: string, seq: number }>
  op?: string
}

/** An ingest result, except `invalid` (not an op at all: the caller reports its error). */
export function renderResult (r: Exclude<IngestResult, { status: 'invalid' }>, bytes?: Uint8Array): OpResultJson {
  const op = r.op as SignedOp
  const out: OpResultJson = { status: r.status, id: toHex(r.id), kind: op.kind, author: accountId(op.author), seq: op.seq, ts: op.ts }
  if (r.status === 'rejected') { out.code = r.code; out.reason = r.reason }
  if (r.status === 'void' || r.status === 'dropped') out.reason = r.reason
  if (r.status === 'pending') out.missing = r.missing.map(([k, s]) => ({ account: accountId(k), seq: s }))
  if (bytes !== undefined) out.op = toHex(bytes)
  return out
}

const isKey = (v: Uint8Array): boolean => v.length === 33 && (v[0] === 2 || v[0] === 3)

/** An op's body as JSON: keys as account ids, other bytes as hex; `[key, seq]` pairs stay pairs. */
export function renderValue (value: unknown, depth = 0): unknown {
  if (depth > 8) return null
  if (value instanceof Uint8Array) return isKey(value) ? accountId(value as PublicKey) : toHex(value)
  if (typeof value === 'bigint') return value.toString()
  if (Array.isArray(value)) return value.map(v => renderValue(v, depth + 1))
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), renderValue(v, depth + 1)]))
  if (value instanceof Error) return { message: value.message }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => typeof v !== 'function').map(([k, v]) => [k, renderValue(v, depth + 1)]))
  }
  return value
}

/** Whether a value returned by a service looks like a ledger result (status + op). */
export function isIngestResult (value: unknown): value is Exclude<IngestResult, { status: 'invalid' }> {
  if (value === null || typeof value !== 'object') return false
  const v = value as { status?: unknown, op?: { kind?: unknown, author?: unknown }, id?: unknown }
  return typeof v.status === 'string' && v.id instanceof Uint8Array && typeof v.op === 'object' && v.op !== null &&
    typeof v.op.kind === 'string' && v.op.author instanceof Uint8Array
}
