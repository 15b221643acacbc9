/**
 * ECDSA over secp256k1 on the op id, 64-byte compact `r || s`, low-S only. The portable verifier is
 * `@noble/secp256k1`; other implementations sit behind `SignatureVerifier` and must agree with it.
 */
import * as secp from '@noble/secp256k1'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesEqual } from './bytes.ts'
import { encodeSignedOp, opId, type DecodedOp } from './codec.ts'
import { decodeUnsignedOp } from './decode.ts'
import { OpDecodeError, SignatureError } from './errors.ts'
import { LIMITS, type OpId, type PublicKey, type SignedOp, type UnsignedOp } from './ops.ts'

secp.hashes.sha256 = sha256
secp.hashes.hmacSha256 = (key, msg) => hmac(sha256, key, msg)

/** Half the group order: a signature with s above it is the malleable twin and is refused. */
export const SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n

/** Verifies a 64-byte compact low-S signature over a 32-byte digest with a compressed key. */
export interface SignatureVerifier {
  readonly name: string
  verify (sig: Uint8Array, digest: Uint8Array, publicKey: PublicKey): boolean
}

/** True when `sig` is 64 bytes with 0 < r < n and 0 < s ≤ n/2. */
export function isLowSCompact (sig: Uint8Array): boolean {
  if (sig.length !== 64) return false
  let r = 0n
  let s = 0n
  for (let i = 0; i < 32; i++) r = (r << 8n) | BigInt(sig[i] as number)
  for (let i = 32; i < 64; i++) s = (s << 8n) | BigInt(sig[i] as number)
  return r > 0n && r < secp.Point.CURVE().n && s > 0n && s <= SECP256K1_HALF_N
}

export const nobleVerifier: SignatureVerifier = {
  name: 'noble',
  verify (sig, digest, publicKey) {
    if (!(sig instanceof Uint8Array) || !(digest instanceof Uint8Array) || !(publicKey instanceof Uint8Array)) return false
    if (sig.length !== 64 || digest.length !== 32 || publicKey.length !== 33) return false
    try {
      return secp.verify(sig, digest, publicKey, { prehash: false, lowS: true })
    } catch {
      return false
    }
  }
}

export interface KeyPair {
  secretKey: Uint8Array
  publicKey: PublicKey
}

export function generateKeyPair (): KeyPair {
  const secretKey = secp.utils.randomSecretKey()
  return { secretKey, publicKey: secp.getPublicKey(secretKey, true) }
}

export function publicKeyOf (secretKey: Uint8Array): PublicKey {
  return secp.getPublicKey(secretKey, true)
}

/** Something that signs 32-byte digests for one key: a secret key in memory, a native library, a secure element. */
export interface OpSigner {
  readonly publicKey: PublicKey
  /** 64-byte compact low-S ECDSA signature over `digest`. */
  sign (digest: Uint8Array): Uint8Array
}

/** The portable signer: RFC 6979 deterministic nonces, low-S. */
export function keySigner (secretKey: Uint8Array): OpSigner {
  const publicKey = publicKeyOf(secretKey)
  return { publicKey, sign: digest => secp.sign(digest, secretKey, { prehash: false, lowS: true }) }
}

/** Signs an op after checking it with the wire rules: a signer cannot produce an op peers would refuse. */
export function signOp<T extends UnsignedOp> (op: T, signer: OpSigner | Uint8Array): { op: T & { sig: Uint8Array }, id: OpId, bytes: Uint8Array } {
  decodeUnsignedOp(op)
  const s = signer instanceof Uint8Array ? keySigner(signer) : signer
  if (!bytesEqual(s.publicKey, op.author)) throw new SignatureError('the signing key does not belong to op.author')
  const id = opId(op)
  const sig = s.sign(id)
  if (!isLowSCompact(sig)) throw new SignatureError('the signer returned a signature that is not 64-byte compact low-S')
  const signed = { ...op, sig }
  const bytes = encodeSignedOp(signed as SignedOp)
  if (bytes.length > LIMITS.maxOpBytes) throw new OpDecodeError('op', `at most ${LIMITS.maxOpBytes} bytes when signed`, bytes)
  return { op: signed, id, bytes }
}

/** Throws SignatureError unless the op's signature verifies against its author. */
export function verifyOp (decoded: DecodedOp, verifier: SignatureVerifier = nobleVerifier): void {
  if (!verifier.verify(decoded.op.sig, decoded.id, decoded.op.author)) {
    throw new SignatureError(`op ${decoded.op.kind} by ${shortKey(decoded.op.author)} #${decoded.op.seq}: signature does not verify`)
  }
}

function shortKey (key: Uint8Array): string {
  return Array.from(key.subarray(0, 6), b => b.toString(16).padStart(2, '0')).join('')
}
