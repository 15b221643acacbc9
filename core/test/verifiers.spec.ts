import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { describe, it, expect } from 'vitest'
import { generateKeyPair, nobleVerifier, type SignatureVerifier } from '@microgrid/protocol'
import { CachingVerifier, cachingVerifier, defaultVerifier, nativeVerifier } from '../src/verifiers.ts'
import { runVerifierTests, flipBit, highSTwin, randomBytes, signDigest, compactOf } from '../src/testing/index.ts'

const require = createRequire(import.meta.url)
const native = nativeVerifier()

/** Whether the installed `secp256k1` package ships a prebuilt addon for this platform. */
function hasPrebuild (): boolean {
  try {
    const dir = dirname(require.resolve('secp256k1/package.json'))
    return existsSync(join(dir, 'prebuilds', `${process.platform}-${process.arch}`))
  } catch {
    return false
  }
}

describe('nativeVerifier', () => {
  it('loads on linux-x64 and wherever the package ships a prebuild', () => {
    if (process.platform === 'linux' && process.arch === 'x64') expect(native).toBeDefined()
    expect(native !== undefined).toBe(hasPrebuild())
    expect(native?.name).toBe('libsecp256k1')
  })

  it('returns an equivalent verifier on every call (the addon is loaded once)', () => {
    const again = nativeVerifier()
    expect(again?.name).toBe(native?.name)
  })

  it('defaultVerifier() is native where it loads, else noble', () => {
    const d = defaultVerifier()
    expect(d.name).toBe(native !== undefined ? 'libsecp256k1' : 'noble')
    const kp = generateKeyPair()
    const digest = randomBytes(32)
    const sig = signDigest(digest, kp.secretKey)
    expect(d.verify(sig, digest, kp.publicKey)).toBe(true)
    expect(d.verify(highSTwin(sig), digest, kp.publicKey)).toBe(false)
  })
})

if (native !== undefined) {
  const v: SignatureVerifier = native

  describe('nativeVerifier specifics', () => {
    it('libsecp256k1 ecdsa_verify itself refuses high-S (checked on the raw binding)', () => {
      const binding = require('secp256k1/bindings') as { ecdsaVerify (s: Uint8Array, m: Uint8Array, k: Uint8Array): boolean }
      const kp = generateKeyPair()
      const digest = randomBytes(32)
      const sig = signDigest(digest, kp.secretKey)
      expect(binding.ecdsaVerify(sig, digest, kp.publicKey)).toBe(true)
      expect(binding.ecdsaVerify(highSTwin(sig), digest, kp.publicKey)).toBe(false)
    })

    it('refuses non-byte inputs without throwing', () => {
      const kp = generateKeyPair()
      const digest = randomBytes(32)
      const sig = signDigest(digest, kp.secretKey)
      const junk: unknown[] = [undefined, null, 0, 'x'.repeat(64), Array.from(sig), { length: 64 }, sig.buffer, new Uint16Array(32), new DataView(new ArrayBuffer(64))]
      for (const j of junk) {
        expect(v.verify(j as Uint8Array, digest, kp.publicKey)).toBe(false)
        expect(v.verify(sig, j as Uint8Array, kp.publicKey)).toBe(false)
        expect(v.verify(sig, digest, j as Uint8Array)).toBe(false)
      }
      expect(v.verify(sig, digest, kp.publicKey)).toBe(true)
    })

    it('refuses 65-byte (uncompressed and hybrid) keys, which the addon alone would take', async () => {
      const secp = await import('@noble/secp256k1')
      const kp = generateKeyPair()
      const digest = randomBytes(32)
      const sig = signDigest(digest, kp.secretKey)
      const uncompressed = secp.Point.fromBytes(kp.publicKey).toBytes(false)
      const hybrid = uncompressed.slice()
      hybrid[0] = 0x06 | ((uncompressed[64] as number) & 1)
      const binding = require('secp256k1/bindings') as { ecdsaVerify (s: Uint8Array, m: Uint8Array, k: Uint8Array): boolean }
      expect(binding.ecdsaVerify(sig, digest, uncompressed)).toBe(true)
      expect(binding.ecdsaVerify(sig, digest, hybrid)).toBe(true)
      expect(v.verify(sig, digest, uncompressed)).toBe(false)
      expect(v.verify(sig, digest, hybrid)).toBe(false)
    })
  })

  runVerifierTests('native libsecp256k1', () => v)
  runVerifierTests('CachingVerifier over native', () => new CachingVerifier(v))

  describe('noble and native agree', () => {
    it('on 500 random signatures, valid and corrupted', () => {
      const disagreements: string[] = []
      let accepted = 0
      for (let i = 0; i < 500; i++) {
        const kp = generateKeyPair()
        let digest = randomBytes(32)
        let sig = signDigest(digest, kp.secretKey, i % 2 === 0)
        let key = kp.publicKey
        const kind = i % 10
        switch (kind) {
          case 0: case 1: case 2: case 3: break
          case 4: sig = flipBit(sig, (i * 37) % 512); break
          case 5: sig = highSTwin(sig); break
          case 6: key = generateKeyPair().publicKey; break
          case 7: digest = flipBit(digest, (i * 13) % 256); break
          case 8: sig = randomBytes(64); break
          case 9: {
            // Random 33 bytes with a compressed prefix: about half are points, none the signer's.
            key = randomBytes(33)
            key[0] = 0x02 | (i & 1)
            // ...and sometimes a scalar out of range as well.
            if (i % 20 === 9) sig = compactOf(0n, 1n)
            break
          }
        }
        const a = nobleVerifier.verify(sig, digest, key)
        const b = v.verify(sig, digest, key)
        if (a !== b) disagreements.push(`case ${i} (kind ${kind}): noble ${String(a)}, native ${String(b)}`)
        if (a) accepted++
      }
      expect(disagreements).toEqual([])
      expect(accepted).toBe(200)
    })
  })
} else {
  describe('without the native addon', () => {
    it('defaultVerifier() falls back to noble', () => {
      expect(defaultVerifier()).toBe(nobleVerifier)
    })
  })
}

runVerifierTests('noble', () => nobleVerifier)

/** A verifier that counts calls and answers like noble. */
function counting (): SignatureVerifier & { calls: number } {
  const c = {
    name: 'counting',
    calls: 0,
    verify (sig: Uint8Array, digest: Uint8Array, key: Uint8Array): boolean {
      c.calls++
      return nobleVerifier.verify(sig, digest, key)
    }
  }
  return c
}

function signed (): { sig: Uint8Array, digest: Uint8Array, key: Uint8Array, secretKey: Uint8Array } {
  const kp = generateKeyPair()
  const digest = randomBytes(32)
  return { sig: signDigest(digest, kp.secretKey), digest, key: kp.publicKey, secretKey: kp.secretKey }
}

describe('CachingVerifier', () => {
  it('a second verify of the same op does not call the inner verifier', () => {
    const inner = counting()
    const cv = new CachingVerifier(inner, 10)
    const s = signed()
    expect(cv.verify(s.sig, s.digest, s.key)).toBe(true)
    expect(inner.calls).toBe(1)
    // Equal contents in fresh arrays: still a hit.
    expect(cv.verify(s.sig.slice(), s.digest.slice(), s.key.slice())).toBe(true)
    expect(cv.verify(s.sig, s.digest, s.key)).toBe(true)
    expect(inner.calls).toBe(1)
    expect(cv.stats).toEqual({ hits: 2, misses: 1, size: 1 })
    expect(cv.name).toBe('cached(counting)')
  })

  it('a different signature, digest or key is not served from the cache', () => {
    const inner = counting()
    const cv = new CachingVerifier(inner, 10)
    const s = signed()
    expect(cv.verify(s.sig, s.digest, s.key)).toBe(true)
    // Another valid signature of the same digest by the same key: verified by the inner verifier.
    const other = signDigest(s.digest, s.secretKey, true)
    expect(cv.verify(other, s.digest, s.key)).toBe(true)
    expect(inner.calls).toBe(2)
    // Corrupted signature, other digest, other key: all go to the inner verifier and fail.
    expect(cv.verify(flipBit(s.sig, 100), s.digest, s.key)).toBe(false)
    expect(cv.verify(highSTwin(s.sig), s.digest, s.key)).toBe(false)
    expect(cv.verify(s.sig, flipBit(s.digest, 0), s.key)).toBe(false)
    expect(cv.verify(s.sig, s.digest, generateKeyPair().publicKey)).toBe(false)
    expect(inner.calls).toBe(6)
  })

  it('does not cache failures', () => {
    const inner = counting()
    const cv = new CachingVerifier(inner, 10)
    const s = signed()
    const bad = flipBit(s.sig, 7)
    for (let i = 0; i < 3; i++) expect(cv.verify(bad, s.digest, s.key)).toBe(false)
    expect(inner.calls).toBe(3)
    expect(cv.stats.size).toBe(0)
  })

  it('keys on contents: mutating an array after a hit does not turn a bad signature good', () => {
    const inner = counting()
    const cv = new CachingVerifier(inner, 10)
    const s = signed()
    const sig = s.sig.slice()
    expect(cv.verify(sig, s.digest, s.key)).toBe(true)
    sig[40] = (sig[40] as number) ^ 1
    expect(cv.verify(sig, s.digest, s.key)).toBe(false)
    expect(inner.calls).toBe(2)
  })

  it('passes wrong-length inputs through to the inner verifier and never caches them', () => {
    const inner = counting()
    const cv = new CachingVerifier(inner, 10)
    const s = signed()
    expect(cv.verify(s.sig.subarray(0, 63), s.digest, s.key)).toBe(false)
    expect(cv.verify(s.sig, s.digest.subarray(1), s.key)).toBe(false)
    expect(inner.calls).toBe(2)
    expect(cv.stats.size).toBe(0)
  })

  it('holds at most maxEntries, evicting the least recently used', () => {
    const inner = counting()
    const cv = cachingVerifier(inner, 3)
    const ops = Array.from({ length: 5 }, signed)
    for (const s of ops.slice(0, 3)) expect(cv.verify(s.sig, s.digest, s.key)).toBe(true)
    expect(cv.stats.size).toBe(3)
    // Touch op 0 so op 1 becomes the oldest.
    expect(cv.verify(ops[0]!.sig, ops[0]!.digest, ops[0]!.key)).toBe(true)
    expect(inner.calls).toBe(3)
    for (const s of ops.slice(3)) expect(cv.verify(s.sig, s.digest, s.key)).toBe(true)
    expect(cv.stats.size).toBe(3)
    expect(inner.calls).toBe(5)
    // Ops 1 and 2 were evicted; 0, 3 and 4 are still cached.
    for (const i of [0, 3, 4]) expect(cv.verify(ops[i]!.sig, ops[i]!.digest, ops[i]!.key)).toBe(true)
    expect(inner.calls).toBe(5)
    expect(cv.verify(ops[1]!.sig, ops[1]!.digest, ops[1]!.key)).toBe(true)
    expect(inner.calls).toBe(6)
    expect(cv.stats.size).toBe(3)
  })

  it('stays bounded under many distinct ops', () => {
    const inner: SignatureVerifier = { name: 'yes', verify: () => true }
    const cv = new CachingVerifier(inner, 100)
    const key = new Uint8Array(33)
    for (let i = 0; i < 1000; i++) cv.verify(randomBytes(64), randomBytes(32), key)
    expect(cv.stats.size).toBe(100)
    expect(cv.stats.misses).toBe(1000)
  })

  it('clear() empties the cache', () => {
    const inner = counting()
    const cv = new CachingVerifier(inner)
    const s = signed()
    cv.verify(s.sig, s.digest, s.key)
    cv.clear()
    expect(cv.stats.size).toBe(0)
    cv.verify(s.sig, s.digest, s.key)
    expect(inner.calls).toBe(2)
  })

  it('refuses a non-positive bound', () => {
    expect(() => new CachingVerifier(nobleVerifier, 0)).toThrow(RangeError)
    expect(() => new CachingVerifier(nobleVerifier, 1.5)).toThrow(RangeError)
  })
})
