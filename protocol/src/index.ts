export * from './ops.ts'
export * from './errors.ts'
export { toHex, fromHex, bytesEqual, compareBytes } from './bytes.ts'
export { decodeUnsignedOp, decodeSignedOp } from './decode.ts'
export { encodeUnsignedOp, encodeSignedOp, opId, decodeOp, sha256Digest, type DecodedOp } from './codec.ts'
export {
  nobleVerifier, signOp, keySigner, verifyOp, generateKeyPair, publicKeyOf, isLowSCompact, SECP256K1_HALF_N,
  type SignatureVerifier, type KeyPair, type OpSigner
} from './signature.ts'
export * from './account.ts'
export { compactFromDer } from './der.ts'
export * from './light.ts'
