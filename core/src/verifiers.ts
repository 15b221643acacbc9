/**
 * Signature verifiers beyond the portable one. A node uses native libsecp256k1 (the `secp256k1` npm
 * package's prebuilt addon) where it loads, about 30x faster than noble; everything else uses noble.
 * Both accept exactly the same signatures: 64-byte compact `r || s` with 0 < r < n and 0 < s <= n/2,
 * a 32-byte digest and a 33-byte compressed key (the shared suite in `testing/verifier-suite.ts`).
 *
 * Nothing here touches Node at import time: the addon is looked up through
 * `process.getBuiltinModule('node:module')` when `nativeVerifier()` is first called, so a browser bundle
 * can import this file and simply gets noble from `defaultVerifier()`.
 */
import { fromHex, nobleVerifier, type OpSigner, type PublicKey, type SignatureVerifier } from '@microgrid/protocol'

/** The one call of the `secp256k1` package's native binding that we use. */
interface NativeSecp256k1 {
  /** Throws on unparsable signature (r or s >= n) or key; false when it does not verify (or s > n/2). */
  ecdsaVerify (sig: Uint8Array, msg32: Uint8Array, pubkey: Uint8Array): boolean
}

/** n - 1 and floor(n / 2) for the group order n, big-endian. */
const N_MINUS_1 = fromHex('fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140')
const HALF_N = fromHex('7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0')

/** True when the 32 bytes of `a` from `offset` are a scalar x with 0 < x <= max. */
function scalarAtMost (a: Uint8Array, offset: number, max: Uint8Array): boolean {
  let nonZero = false
  let cmp = 0
  for (let i = 0; i < 32; i++) {
    const x = a[offset + i] as number
    if (x !== 0) nonZero = true
    if (cmp === 0) {
      const y = max[i] as number
      if (x !== y) cmp = x < y ? -1 : 1
    }
  }
  return nonZero && cmp <= 0
}

/** Same range rule as `isLowSCompact` in the protocol, without BigInt: 0 < r < n, 0 < s <= n/2. */
function isLowSCompactFast (sig: Uint8Array): boolean {
  return scalarAtMost(sig, 0, N_MINUS_1) && scalarAtMost(sig, 32, HALF_N)
}

function isBytes (x: unknown, length: number): x is Uint8Array {
  return x instanceof Uint8Array && x.length === length
}

/** A fixed vector (secret key 1, digest 00..1f) checked once after loading, so a broken addon is not used. */
const SELF_TEST = {
  key: fromHex('0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798'),
  digest: fromHex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'),
  sig: fromHex('a951b0cf98bd51c614c802a65a418fa42482dc5c45c9394e39c0d98773c51cd530104fdc36d91582b5757e1de73d982e803cc14d75e82c65daf924e38d27d834')
}

let loaded: { binding: NativeSecp256k1 | undefined } | undefined

function loadBinding (): NativeSecp256k1 | undefined {
  if (loaded !== undefined) return loaded.binding
  let binding: NativeSecp256k1 | undefined
  try {
    const proc = (globalThis as { process?: NodeJS.Process }).process
    const nodeModule = proc?.getBuiltinModule?.('node:module')
    if (nodeModule !== undefined && typeof import.meta.url === 'string') {
      // `secp256k1/bindings` loads only the compiled addon (node-gyp-build); it throws where there is
      // none, unlike `secp256k1` itself, which silently falls back to elliptic (pure JS).
      const candidate = nodeModule.createRequire(import.meta.url)('secp256k1/bindings') as Partial<NativeSecp256k1>
      if (typeof candidate?.ecdsaVerify === 'function' && selfTest(candidate as NativeSecp256k1)) {
        binding = candidate as NativeSecp256k1
      }
    }
  } catch {
    binding = undefined
  }
  loaded = { binding }
  return binding
}

function selfTest (b: NativeSecp256k1): boolean {
  const bad = SELF_TEST.sig.slice()
  bad[5] = (bad[5] as number) ^ 1
  return b.ecdsaVerify(SELF_TEST.sig, SELF_TEST.digest, SELF_TEST.key) === true &&
    b.ecdsaVerify(bad, SELF_TEST.digest, SELF_TEST.key) === false
}

/**
 * libsecp256k1 through the `secp256k1` package's native addon, or undefined where the addon does not
 * load (no prebuild for the platform, browser, Deno without Node compatibility...). Never throws from
 * `verify`: every malformed input is `false`.
 */
export function nativeVerifier (): SignatureVerifier | undefined {
  const binding = loadBinding()
  if (binding === undefined) return undefined
  return {
    name: 'libsecp256k1',
    verify (sig: Uint8Array, digest: Uint8Array, publicKey: PublicKey): boolean {
      if (!isBytes(sig, 64) || !isBytes(digest, 32) || !isBytes(publicKey, 33)) return false
      // libsecp256k1's verify already refuses s > n/2 and zero scalars and its parser refuses r, s >= n;
      // checked here too so the rule does not depend on the addon's version.
      if (!isLowSCompactFast(sig)) return false
      // Only the two compressed prefixes: the addon's key parser would also take 65-byte forms.
      if (publicKey[0] !== 0x02 && publicKey[0] !== 0x03) return false
      try {
        return binding.ecdsaVerify(sig, digest, publicKey) === true
      } catch {
        return false // key not on the curve, x >= p, ...
      }
    }
  }
}

/** Native libsecp256k1 where it loads, else the portable noble verifier. */
export function defaultVerifier (): SignatureVerifier {
  return nativeVerifier() ?? nobleVerifier
}

export interface CachingVerifierStats {
  /** Verifications answered from the cache. */
  hits: number
  /** Verifications passed to the inner verifier. */
  misses: number
  /** Entries held now. */
  size: number
}

/**
 * Remembers signatures that verified, keyed by (digest, key, sig), so an op seen again (re-gossiped,
 * re-read from storage) is not verified again. Only positive results are kept: a failure may be retried
 * and cannot be used to poison the cache. At most `maxEntries` are held; the least recently used entry
 * goes first.
 */
export class CachingVerifier implements SignatureVerifier {
  readonly name: string
  readonly inner: SignatureVerifier
  readonly maxEntries: number
  readonly #entries = new Set<string>()
  #hits = 0
  #misses = 0

  constructor (inner: SignatureVerifier, maxEntries = 100_000) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new RangeError(`CachingVerifier: maxEntries must be a positive integer, got ${maxEntries}`)
    this.inner = inner
    this.maxEntries = maxEntries
    this.name = `cached(${inner.name})`
  }

  verify (sig: Uint8Array, digest: Uint8Array, publicKey: PublicKey): boolean {
    if (!isBytes(sig, 64) || !isBytes(digest, 32) || !isBytes(publicKey, 33)) {
      this.#misses++
      return this.inner.verify(sig, digest, publicKey)
    }
    const key = cacheKey(digest, publicKey, sig)
    if (this.#entries.has(key)) {
      this.#hits++
      this.#entries.delete(key) // move to the young end
      this.#entries.add(key)
      return true
    }
    this.#misses++
    const ok = this.inner.verify(sig, digest, publicKey)
    if (ok) {
      this.#entries.add(key)
      if (this.#entries.size > this.maxEntries) {
        const oldest = this.#entries.values().next()
        if (oldest.done !== true) this.#entries.delete(oldest.value)
      }
    }
    return ok
  }

  get stats (): CachingVerifierStats {
    return { hits: this.#hits, misses: this.#misses, size: this.#entries.size }
  }

  clear (): void {
    this.#entries.clear()
  }
}

export function cachingVerifier (inner: SignatureVerifier, maxEntries?: number): CachingVerifier {
  return new CachingVerifier(inner, maxEntries)
}

/** The 129 input bytes as a 129-char string (one char per byte): fixed lengths, so unambiguous. */
function cacheKey (digest: Uint8Array, publicKey: Uint8Array, sig: Uint8Array): string {
  return String.fromCharCode.apply(null, digest as unknown as number[]) +
    String.fromCharCode.apply(null, publicKey as unknown as number[]) +
    String.fromCharCode.apply(null, sig as unknown as number[])
}

/**
 * A signer on libsecp256k1 (RFC 6979 nonces, low-S, like noble's): for nodes and tools that sign in
 * bulk. Undefined where the native addon does not load.
 */
export function nativeSigner (secretKey: Uint8Array): OpSigner | undefined {
  if (loadBinding() === undefined) return undefined
  const nodeModule = (globalThis as { process?: NodeJS.Process }).process?.getBuiltinModule?.('node:module')
  if (nodeModule === undefined) return undefined
  const lib = nodeModule.createRequire(import.meta.url)('secp256k1') as {
    ecdsaSign: (msg32: Uint8Array, sk: Uint8Array) => { signature: Uint8Array }
    publicKeyCreate: (sk: Uint8Array, compressed: boolean) => Uint8Array
  }
  const sk = secretKey.slice()
  return {
    publicKey: new Uint8Array(lib.publicKeyCreate(sk, true)),
    sign: digest => new Uint8Array(lib.ecdsaSign(digest, sk).signature)
  }
}
