/** Canonical DAG-CBOR encoding of ops, op ids and the wire decoder. */
import * as dagCbor from '@ipld/dag-cbor'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesEqual } from './bytes.ts'
import { decodeSignedOp } from './decode.ts'
import { OpDecodeError } from './errors.ts'
import { LIMITS, type OpId, type SignedOp, type UnsignedOp } from './ops.ts'

/** The unsigned fields only, so an op with a `sig` still hashes to its id. */
function unsignedFields (op: UnsignedOp): Record<string, unknown> {
  return { v: op.v, grid: op.grid, kind: op.kind, author: op.author, seq: op.seq, prev: op.prev, deps: op.deps, ts: op.ts, body: op.body }
}

/** Canonical bytes of the unsigned op: what the op id hashes and the signature covers. */
export function encodeUnsignedOp (op: UnsignedOp): Uint8Array {
  return dagCbor.encode(unsignedFields(op))
}

/** Canonical wire bytes of a signed op. */
export function encodeSignedOp (op: SignedOp): Uint8Array {
  return dagCbor.encode({ ...unsignedFields(op), sig: op.sig })
}

/** The op id: sha256 of the unsigned canonical encoding. */
export function opId (op: UnsignedOp): OpId {
  return sha256(encodeUnsignedOp(op))
}

export interface DecodedOp {
  op: SignedOp
  id: OpId
  bytes: Uint8Array
}

/**
 * Wire bytes -> op. Rejects anything that is not the canonical encoding of a well-formed signed op,
 * so one op has exactly one byte form. Does not check the signature (see `verifyOp`).
 */
export function decodeOp (bytes: Uint8Array): DecodedOp {
  if (!(bytes instanceof Uint8Array)) throw new OpDecodeError('op', 'bytes', bytes)
  if (bytes.length > LIMITS.maxOpBytes) throw new OpDecodeError('op', `at most ${LIMITS.maxOpBytes} bytes`, bytes)
  let value: unknown
  try {
    value = dagCbor.decode(bytes)
  } catch (err) {
    throw new OpDecodeError('op', `canonical DAG-CBOR (${(err as Error).message})`)
  }
  const op = decodeSignedOp(value)
  if (!bytesEqual(encodeSignedOp(op), bytes)) throw new OpDecodeError('op', 'the canonical encoding of its fields')
  return { op, id: opId(op), bytes }
}
