/** Canonical DAG-CBOR encoding of ops, op ids and the wire decoder. */
import * as dagCbor from '@ipld/dag-cbor'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesEqual } from './bytes.ts'
import { readCanonical } from './canonical.ts'
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

const nodeCrypto = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.('node:crypto') as
  {
    createHash: (alg: string) => { update: (b: Uint8Array) => { digest: () => Uint8Array } }
    hash?: (alg: string, data: Uint8Array, encoding: 'buffer') => Uint8Array
  } | undefined
/** One-shot hashing (no Hash object per call) where the runtime has it. */
const oneShot = typeof nodeCrypto?.hash === 'function' ? nodeCrypto.hash : undefined
/** sha256 through node:crypto where the runtime has it (same bytes, a third of the time), noble elsewhere. */
export function sha256Digest (bytes: Uint8Array): Uint8Array {
  if (nodeCrypto === undefined) return sha256(bytes)
  const out = oneShot !== undefined ? oneShot('sha256', bytes, 'buffer') : nodeCrypto.createHash('sha256').update(bytes).digest()
  return new Uint8Array(out.buffer as ArrayBuffer, out.byteOffset, out.byteLength)
}

/** The op id: sha256 of the unsigned canonical encoding. */
export function opId (op: UnsignedOp): OpId {
  return sha256Digest(encodeUnsignedOp(op))
}

/** Bytes of a CBOR unsigned integer head for `n` (major type 0). */
function uintHeadLength (n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x100000000 ? 5 : 9
}

/** `"sig"` as a text key, then the head of a 64-byte byte string. */
const SIG_ENTRY_HEAD = Uint8Array.of(0x63, 0x73, 0x69, 0x67, 0x58, 0x40)

/**
 * Whether `bytes` is exactly the canonical signed encoding, given the canonical unsigned one. Map keys
 * sort by length, then bytes: v, ts, seq, sig, body, ... so the signed form is the unsigned form with a
 * 10-entry map head and the sig entry spliced in after seq. Saves encoding the op a second time.
 */
function isCanonicalSigned (bytes: Uint8Array, unsigned: Uint8Array, op: SignedOp): boolean {
  if (bytes.length !== unsigned.length + SIG_ENTRY_HEAD.length + 64 || unsigned[0] !== 0xa9 || bytes[0] !== 0xaa) return false
  const split = 1 + 3 + (3 + uintHeadLength(op.ts)) + (4 + uintHeadLength(op.seq))
  for (let i = 1; i < split; i++) if (bytes[i] !== unsigned[i]) return false
  for (let i = 0; i < SIG_ENTRY_HEAD.length; i++) if (bytes[split + i] !== SIG_ENTRY_HEAD[i]) return false
  const sigAt = split + SIG_ENTRY_HEAD.length
  for (let i = 0; i < 64; i++) if (bytes[sigAt + i] !== op.sig[i]) return false
  const restAt = sigAt + 64
  for (let i = split; i < unsigned.length; i++) if (bytes[restAt + i - split] !== unsigned[i]) return false
  return true
}

/**
 * A decoded op. Its byte fields (keys, ids, the signature) may be views of `bytes`, which holds only
 * this op: copy what is kept for long apart from the op.
 */
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
  return decodeCanonicalOp(bytes) ?? decodeOpFully(bytes)
}

/** Where the fast path splices an op's unsigned bytes: a fresh array per op would cost more than the copy. */
const scratch = new Uint8Array(LIMITS.maxOpBytes)

/**
 * The fast path: bytes the canonical reader takes (`canonical.ts`) encode back to themselves, so once
 * the fields check out the op is canonical, and its unsigned encoding is the same bytes without the
 * sig entry (a 9-entry map head instead of 10): no second encoding. Undefined for anything else.
 */
export function decodeCanonicalOp (input: Uint8Array): DecodedOp | undefined {
  // The op's byte strings come out as views of its bytes (`readCanonical`): of bytes of its own, so
  // a field kept for long does not hold on to the whole message or page the op arrived in.
  const bytes = input.byteOffset === 0 && input.byteLength === input.buffer.byteLength ? input : new Uint8Array(input)
  const read = readCanonical(bytes)
  if (read === undefined || read.sigStart < 0 || bytes[0] !== 0xaa) return undefined
  let op: SignedOp
  try {
    op = decodeSignedOp(read.value)
  } catch {
    return undefined // the full decoder says why
  }
  const length = bytes.length - (read.sigEnd - read.sigStart)
  const unsigned = scratch
  unsigned[0] = 0xa9
  unsigned.set(bytes.subarray(1, read.sigStart), 1)
  unsigned.set(bytes.subarray(read.sigEnd), read.sigStart)
  return { op, id: sha256Digest(unsigned.subarray(0, length)), bytes }
}

/** The full decoder: DAG-CBOR, the fields, and the op encoded again to prove its bytes canonical. */
export function decodeOpFully (bytes: Uint8Array): DecodedOp {
  let value: unknown
  try {
    value = dagCbor.decode(bytes)
  } catch (err) {
    throw new OpDecodeError('op', `canonical DAG-CBOR (${(err as Error).message})`)
  }
  const op = decodeSignedOp(value)
  const unsigned = encodeUnsignedOp(op)
  if (!isCanonicalSigned(bytes, unsigned, op) && !bytesEqual(encodeSignedOp(op), bytes)) {
    throw new OpDecodeError('op', 'the canonical encoding of its fields')
  }
  return { op, id: sha256Digest(unsigned), bytes }
}
