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
  /** Authors in one version vector (about 50 bytes each). */
  maxHeads: 80_000,
  /** Forks a puller may say it already knows. */
  maxForks: 10_000,
  /** Ops in one `ops` message. */
  maxOpsPerMessage: 512,
  /** Ops served for one pull; the puller asks again for the rest. */
  maxOpsPerPull: 50_000
})

/**
 * Puller -> server: what I hold — per signer, the highest contiguous seq and the first 8 bytes of the
 * id of my op there, so a server holding another op at that position (a fork made while we were apart)
 * notices — and the forks I already know.
 */
export interface PullRequest {
  t: 'pull'
  grid: Uint8Array
  heads: Array<[Uint8Array, number, Uint8Array]>
  forks: Array<[Uint8Array, number]>
}

/** Bytes of a head's op id a pull request carries. */
export const HEAD_ID_BYTES = 8

/**
 * Server -> puller: a batch of ops, in an order where each op comes after its causal past. The first
 * batch of a pull says how many decided ops the server held beyond the puller's heads when the pull
 * began (`left`: this pull's and any later pull's), so the puller can show its progress; a puller
 * that does not know the field ignores it.
 */
export interface OpsMessage {
  t: 'ops'
  ops: Uint8Array[]
  left?: number
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

function heads (value: unknown): Array<[Uint8Array, number, Uint8Array]> {
  if (!Array.isArray(value) || value.length > SYNC_LIMITS.maxHeads) throw new SyncProtocolError(`heads: expected a list of at most ${SYNC_LIMITS.maxHeads}`)
  return value.map((entry, i) => {
    if (!Array.isArray(entry) || entry.length !== 3 || !(entry[0] instanceof Uint8Array) || entry[0].length !== 33 ||
      typeof entry[1] !== 'number' || !Number.isSafeInteger(entry[1]) || entry[1] < 0 ||
      !(entry[2] instanceof Uint8Array) || entry[2].length !== HEAD_ID_BYTES) {
      throw new SyncProtocolError(`heads[${i}]: expected [33-byte key, seq, ${HEAD_ID_BYTES}-byte id prefix]`)
    }
    return [entry[0], entry[1], entry[2]] as [Uint8Array, number, Uint8Array]
  })
}

export function decodePullRequest (bytes: Uint8Array): PullRequest {
  const m = decodeMap(bytes)
  if (m.t !== 'pull') throw new SyncProtocolError('expected a pull request')
  if (!(m.grid instanceof Uint8Array) || m.grid.length !== 32) throw new SyncProtocolError('grid: expected 32 bytes')
  return { t: 'pull', grid: m.grid, heads: heads(m.heads), forks: positions(m.forks, 'forks', SYNC_LIMITS.maxForks) }
}

/** Errors that mean the peer broke the protocol, as opposed to a connection that dropped. */
export function isProtocolViolation (err: unknown): boolean {
  if (err instanceof SyncProtocolError) return true
  const name = (err as { name?: unknown } | null)?.name
  return name === 'InvalidDataLengthError' || name === 'InvalidDataLengthLengthError' || name === 'InvalidMessageLengthError'
}

export function decodeServerMessage (bytes: Uint8Array): ServerMessage {
  const m = decodeMap(bytes)
  switch (m.t) {
    case 'ops': {
      if (!Array.isArray(m.ops) || m.ops.length > SYNC_LIMITS.maxOpsPerMessage || !m.ops.every(o => o instanceof Uint8Array)) {
        throw new SyncProtocolError(`ops: expected a list of at most ${SYNC_LIMITS.maxOpsPerMessage} byte strings`)
      }
      if (m.left !== undefined && (typeof m.left !== 'number' || !Number.isSafeInteger(m.left) || m.left < 0)) {
        throw new SyncProtocolError('left: expected a whole number ≥ 0')
      }
      return m.left === undefined ? { t: 'ops', ops: m.ops as Uint8Array[] } : { t: 'ops', ops: m.ops as Uint8Array[], left: m.left }
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
