/**
 * The sync protocol's messages: DAG-CBOR maps, each length-prefixed on a libp2p stream. See
 * protocol/PROTOCOL.md ("Sync"). Every decoder checks types and bounds: a peer that sends anything
 * else is cut off.
 */
import * as dagCbor from '@ipld/dag-cbor'

export const SYNC_PROTOCOL = '/microgrid/sync/1.0.0'

export const SYNC_LIMITS = Object.freeze({
  /** Largest message either side may send. */
  maxMessageBytes: 4 * 1024 * 1024,
  /** Authors in one version vector. */
  maxHeads: 100_000,
  /** Forks a puller may say it already knows. */
  maxForks: 10_000,
  /** Ops in one `ops` message. */
  maxOpsPerMessage: 512,
  /** Ops served for one pull; the puller asks again for the rest. */
  maxOpsPerPull: 50_000
})

/** Puller -> server: what I hold (signer -> highest contiguous seq) and the forks I know. */
export interface PullRequest {
  t: 'pull'
  grid: Uint8Array
  heads: Array<[Uint8Array, number]>
  forks: Array<[Uint8Array, number]>
}

/** Server -> puller: a batch of ops, in an order where each op comes after its causal past. */
export interface OpsMessage {
  t: 'ops'
  ops: Uint8Array[]
}

/** Server -> puller: the end of a pull; `more` when the server holds more than it sent. */
export interface DoneMessage {
  t: 'done'
  more: boolean
}

export interface ErrorMessage {
  t: 'error'
  message: string
}

export type ServerMessage = OpsMessage | DoneMessage | ErrorMessage

export class SyncProtocolError extends Error {
  override readonly name = 'SyncProtocolError'
}

export function encodeMessage (message: PullRequest | ServerMessage): Uint8Array {
  return dagCbor.encode(message)
}

function decodeMap (bytes: Uint8Array): Record<string, unknown> {
  let value: unknown
  try {
    value = dagCbor.decode(bytes)
  } catch (err) {
    throw new SyncProtocolError(`not DAG-CBOR: ${(err as Error).message}`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw new SyncProtocolError('expected a map')
  }
  return value as Record<string, unknown>
}

function positions (value: unknown, field: string, max: number): Array<[Uint8Array, number]> {
  if (!Array.isArray(value) || value.length > max) throw new SyncProtocolError(`${field}: expected a list of at most ${max}`)
  return value.map((entry, i) => {
    if (!Array.isArray(entry) || entry.length !== 2 || !(entry[0] instanceof Uint8Array) || entry[0].length !== 33 ||
      typeof entry[1] !== 'number' || !Number.isSafeInteger(entry[1]) || entry[1] < 0) {
      throw new SyncProtocolError(`${field}[${i}]: expected [33-byte key, seq]`)
    }
    return [entry[0], entry[1]] as [Uint8Array, number]
  })
}

export function decodePullRequest (bytes: Uint8Array): PullRequest {
  const m = decodeMap(bytes)
  if (m.t !== 'pull') throw new SyncProtocolError('expected a pull request')
  if (!(m.grid instanceof Uint8Array) || m.grid.length !== 32) throw new SyncProtocolError('grid: expected 32 bytes')
  return { t: 'pull', grid: m.grid, heads: positions(m.heads, 'heads', SYNC_LIMITS.maxHeads), forks: positions(m.forks, 'forks', SYNC_LIMITS.maxForks) }
}

export function decodeServerMessage (bytes: Uint8Array): ServerMessage {
  const m = decodeMap(bytes)
  switch (m.t) {
    case 'ops': {
      if (!Array.isArray(m.ops) || m.ops.length > SYNC_LIMITS.maxOpsPerMessage || !m.ops.every(o => o instanceof Uint8Array)) {
        throw new SyncProtocolError(`ops: expected a list of at most ${SYNC_LIMITS.maxOpsPerMessage} byte strings`)
      }
      return { t: 'ops', ops: m.ops as Uint8Array[] }
    }
    case 'done':
      if (typeof m.more !== 'boolean') throw new SyncProtocolError('more: expected a boolean')
      return { t: 'done', more: m.more }
    case 'error':
      return { t: 'error', message: typeof m.message === 'string' ? m.message.slice(0, 500) : 'unknown error' }
    default:
      throw new SyncProtocolError('expected ops, done or error')
  }
}
