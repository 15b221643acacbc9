/**
 * The acceptance suite every `SignatureVerifier` passes: Project Wycheproof's secp256k1 vectors (with
 * our low-S rule), round trips with fresh keys, and the corruptions a verifier must refuse. Node-only
 * (reads the vector files); call it from a vitest spec file.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import * as secp from '@noble/secp256k1'
import { describe, it, expect, beforeAll } from 'vitest'
import {
  compactFromDer, fromHex, generateKeyPair, isLowSCompact, SECP256K1_HALF_N,
  type KeyPair, type SignatureVerifier
} from '@microgrid/protocol'

const CURVE_N = secp.Point.CURVE().n
const CURVE_P = secp.Point.CURVE().p

/** The vectors and their README (licence note) live in core/test/vectors/wycheproof/. */
export const WYCHEPROOF_DIR = new URL('../../test/vectors/wycheproof/', import.meta.url)

interface WycheproofTest {
  tcId: number
  comment: string
  flags: string[]
  msg: string
  sig: string
  result: 'valid' | 'invalid' | 'acceptable'
}

interface WycheproofFile {
  numberOfTests: number
  testGroups: Array<{ publicKey: { uncompressed: string }, tests: WycheproofTest[] }>
}

export interface WycheproofCase {
  tcId: number
  comment: string
  /** Compressed key, or undefined when the file's key is not a valid point. */
  publicKey: Uint8Array | undefined
  digest: Uint8Array
  /** The signature bytes as in the file (compact for p1363, DER for bitcoin). */
  rawSig: Uint8Array
  /** Compact signature, or undefined when its encoding is refused (wrong size, bad DER). */
  sig: Uint8Array | undefined
  /** What the file says, before our low-S rule. */
  fileResult: WycheproofTest['result']
  /** What a verifier of ours must answer. */
  expected: boolean
}

/** Loads one of the two Wycheproof files as cases with the answer our rules require. */
export function loadWycheproof (format: 'p1363' | 'bitcoin'): { numberOfTests: number, cases: WycheproofCase[] } {
  const file = JSON.parse(readFileSync(new URL(`ecdsa_secp256k1_sha256_${format}_test.json`, WYCHEPROOF_DIR), 'utf8')) as WycheproofFile
  const cases: WycheproofCase[] = []
  for (const group of file.testGroups) {
    let publicKey: Uint8Array | undefined
    try {
      publicKey = secp.Point.fromBytes(fromHex(group.publicKey.uncompressed)).toBytes(true)
    } catch {
      publicKey = undefined
    }
    for (const t of group.tests) {
      const raw = fromHex(t.sig)
      let sig: Uint8Array | undefined
      if (format === 'p1363') {
        sig = raw.length === 64 ? raw : undefined
      } else {
        try { sig = compactFromDer(raw) } catch { sig = undefined }
      }
      // p1363: standard ECDSA, so a high-S signature the file calls valid is one we refuse.
      // bitcoin: the file already applies the low-S rule.
      const expected = t.result === 'valid' && publicKey !== undefined && sig !== undefined &&
        (format === 'bitcoin' || isLowSCompact(sig))
      cases.push({
        tcId: t.tcId,
        comment: t.comment,
        publicKey,
        digest: sha256(fromHex(t.msg)),
        rawSig: raw,
        sig,
        fileResult: t.result,
        expected
      })
    }
  }
  return { numberOfTests: file.numberOfTests, cases }
}

export function sha256 (data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest())
}

export function randomBytes (n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n))
}

/** A low-S compact signature over a 32-byte digest (RFC 6979, or randomized with `fresh`). */
export function signDigest (digest: Uint8Array, secretKey: Uint8Array, fresh = false): Uint8Array {
  return secp.sign(digest, secretKey, { prehash: false, lowS: true, extraEntropy: fresh })
}

function scalarOf (bytes: Uint8Array): bigint {
  let x = 0n
  for (const b of bytes) x = (x << 8n) | BigInt(b)
  return x
}

function scalarBytes (x: bigint): Uint8Array {
  const out = new Uint8Array(32)
  for (let i = 31; i >= 0; i--, x >>= 8n) out[i] = Number(x & 0xffn)
  return out
}

/** `r || s` from two scalars (each reduced to 32 bytes; callers pass values below 2^256). */
export function compactOf (r: bigint, s: bigint): Uint8Array {
  const out = new Uint8Array(64)
  out.set(scalarBytes(r), 0)
  out.set(scalarBytes(s), 32)
  return out
}

/** The malleable twin `r || n - s`: valid for plain ECDSA, refused by our low-S rule. */
export function highSTwin (sig: Uint8Array): Uint8Array {
  return compactOf(scalarOf(sig.subarray(0, 32)), CURVE_N - scalarOf(sig.subarray(32, 64)))
}

export function flipBit (bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice()
  out[bit >> 3] = (out[bit >> 3] as number) ^ (0x80 >> (bit & 7))
  return out
}

/** A compressed-form 33-byte string whose x is not the x of any curve point. */
function offCurveKey (): Uint8Array {
  for (let x = 5n; ; x++) {
    try {
      secp.Point.fromBytes(Uint8Array.of(0x02, ...scalarBytes(x)))
    } catch {
      return Uint8Array.of(0x02, ...scalarBytes(x))
    }
  }
}

interface Signed extends KeyPair {
  digest: Uint8Array
  sig: Uint8Array
}

function freshSigned (): Signed {
  const kp = generateKeyPair()
  const digest = randomBytes(32)
  return { ...kp, digest, sig: signDigest(digest, kp.secretKey) }
}

function describeCase (c: WycheproofCase, got: unknown): string {
  return `tcId ${c.tcId} (${c.comment}; file: ${c.fileResult}): expected ${String(c.expected)}, got ${String(got)}`
}

export function runVerifierTests (name: string, makeVerifier: () => SignatureVerifier | Promise<SignatureVerifier>): void {
  describe(`SignatureVerifier acceptance: ${name}`, () => {
    let v!: SignatureVerifier
    /** verify, with any throw turned into a test failure that says so. */
    const check = (sig: Uint8Array, digest: Uint8Array, key: Uint8Array): boolean => {
      let result: unknown
      expect(() => { result = v.verify(sig, digest, key) }, 'verify must not throw').not.toThrow()
      expect(typeof result, 'verify returns a boolean').toBe('boolean')
      return result as boolean
    }

    beforeAll(async () => {
      v = await makeVerifier()
      expect(typeof v.name).toBe('string')
      expect(v.name.length).toBeGreaterThan(0)
    })

    describe('Wycheproof', () => {
      it('ecdsa_secp256k1_sha256_p1363: every vector, high-S refused even where the file says valid', () => {
        const { numberOfTests, cases } = loadWycheproof('p1363')
        expect(cases.length).toBe(numberOfTests)
        const failures: string[] = []
        let accepted = 0
        let highSRefused = 0
        for (const c of cases) {
          if (c.publicKey === undefined) {
            failures.push(`tcId ${c.tcId} (${c.comment}): the file's public key did not parse`)
            continue
          }
          // A signature that is not 64 bytes is passed as it is: the verifier must refuse the length.
          const got = check(c.sig ?? c.rawSig, c.digest, c.publicKey)
          if (got !== c.expected) failures.push(describeCase(c, got))
          if (got) accepted++
          if (c.fileResult === 'valid' && !c.expected && !got) highSRefused++
        }
        expect(failures).toEqual([])
        // The file exercises both sides of the low-S rule.
        expect(accepted).toBeGreaterThan(50)
        expect(highSRefused).toBeGreaterThan(50)
      })

      it('ecdsa_secp256k1_sha256_bitcoin (DER, low-S): every vector; a DER parse failure is a rejection', () => {
        const { numberOfTests, cases } = loadWycheproof('bitcoin')
        expect(cases.length).toBe(numberOfTests)
        const failures: string[] = []
        let accepted = 0
        let verifiedInvalid = 0
        for (const c of cases) {
          if (c.sig === undefined || c.publicKey === undefined) {
            if (c.fileResult === 'valid') failures.push(`tcId ${c.tcId} (${c.comment}): file says valid but its DER or key did not parse`)
            continue
          }
          const got = check(c.sig, c.digest, c.publicKey)
          if (got !== c.expected) failures.push(describeCase(c, got))
          if (got) accepted++
          else verifiedInvalid++
        }
        expect(failures).toEqual([])
        expect(accepted).toBeGreaterThan(100)
        // Invalid vectors that got past the DER parser and had to be refused by the verifier itself.
        expect(verifiedInvalid).toBeGreaterThan(50)
      })
    })

    describe('round trips', () => {
      it('accepts signatures made with freshly generated keys', () => {
        for (let i = 0; i < 25; i++) {
          const s = freshSigned()
          expect(check(s.sig, s.digest, s.publicKey), `round trip ${i}`).toBe(true)
          // Randomized nonce: another valid signature of the same digest.
          expect(check(signDigest(s.digest, s.secretKey, true), s.digest, s.publicKey)).toBe(true)
        }
      })

      it('is deterministic and does not modify its inputs', () => {
        const s = freshSigned()
        const copies = [s.sig.slice(), s.digest.slice(), s.publicKey.slice()]
        for (let i = 0; i < 3; i++) expect(check(s.sig, s.digest, s.publicKey)).toBe(true)
        const bad = flipBit(s.sig, 3)
        for (let i = 0; i < 3; i++) expect(check(bad, s.digest, s.publicKey)).toBe(false)
        expect([s.sig, s.digest, s.publicKey]).toEqual(copies)
      })

      it('accepts inputs that are views into larger buffers', () => {
        const s = freshSigned()
        const buf = randomBytes(3 + 64 + 5 + 32 + 7 + 33 + 11)
        buf.set(s.sig, 3)
        buf.set(s.digest, 3 + 64 + 5)
        buf.set(s.publicKey, 3 + 64 + 5 + 32 + 7)
        const sig = buf.subarray(3, 3 + 64)
        const digest = buf.subarray(72, 72 + 32)
        const key = buf.subarray(111, 111 + 33)
        expect(check(sig, digest, key)).toBe(true)
        expect(check(sig, buf.subarray(71, 71 + 32), key)).toBe(false)
      })

      it('accepts Buffer inputs (a Uint8Array subclass)', () => {
        const s = freshSigned()
        expect(check(Buffer.from(s.sig), Buffer.from(s.digest), Buffer.from(s.publicKey))).toBe(true)
      })
    })

    describe('refusals', () => {
      it('refuses every single-bit flip of the signature', () => {
        const s = freshSigned()
        const accepted: number[] = []
        for (let bit = 0; bit < 512; bit++) if (check(flipBit(s.sig, bit), s.digest, s.publicKey)) accepted.push(bit)
        expect(accepted).toEqual([])
      })

      it('refuses every single-bit flip of the digest', () => {
        const s = freshSigned()
        const accepted: number[] = []
        for (let bit = 0; bit < 256; bit++) if (check(s.sig, flipBit(s.digest, bit), s.publicKey)) accepted.push(bit)
        expect(accepted).toEqual([])
      })

      it('refuses every single-bit flip of the public key', () => {
        const s = freshSigned()
        const accepted: number[] = []
        for (let bit = 0; bit < 264; bit++) if (check(s.sig, s.digest, flipBit(s.publicKey, bit))) accepted.push(bit)
        expect(accepted).toEqual([])
      })

      it('refuses a valid signature checked against another key', () => {
        for (let i = 0; i < 10; i++) {
          const s = freshSigned()
          const other = generateKeyPair()
          expect(check(s.sig, s.digest, other.publicKey)).toBe(false)
        }
      })

      it('refuses a valid signature checked against another digest', () => {
        const s = freshSigned()
        expect(check(s.sig, randomBytes(32), s.publicKey)).toBe(false)
        expect(check(s.sig, new Uint8Array(32), s.publicKey)).toBe(false)
      })

      it('refuses the high-S twin of a valid signature (which plain ECDSA accepts)', () => {
        for (let i = 0; i < 10; i++) {
          const s = freshSigned()
          const twin = highSTwin(s.sig)
          expect(scalarOf(twin.subarray(32)) > SECP256K1_HALF_N).toBe(true)
          // The twin really is a valid plain-ECDSA signature: only the low-S rule refuses it.
          expect(secp.verify(twin, s.digest, s.publicKey, { prehash: false, lowS: false })).toBe(true)
          expect(check(s.sig, s.digest, s.publicKey)).toBe(true)
          expect(check(twin, s.digest, s.publicKey)).toBe(false)
        }
      })

      it('refuses r or s equal to 0, equal to n, or above n, and s just above n/2', () => {
        const s = freshSigned()
        const r = scalarOf(s.sig.subarray(0, 32))
        const sv = scalarOf(s.sig.subarray(32))
        const all1 = (1n << 256n) - 1n
        const bad: Array<[string, Uint8Array]> = [
          ['r = 0', compactOf(0n, sv)],
          ['s = 0', compactOf(r, 0n)],
          ['r = s = 0', new Uint8Array(64)],
          ['r = n', compactOf(CURVE_N, sv)],
          ['s = n', compactOf(r, CURVE_N)],
          ['r = 2^256 - 1', compactOf(all1, sv)],
          ['s = 2^256 - 1', compactOf(r, all1)],
          ['s = n/2 + 1', compactOf(r, SECP256K1_HALF_N + 1n)],
          ['s = n - 1', compactOf(r, CURVE_N - 1n)],
          ['all 0xff', new Uint8Array(64).fill(0xff)]
        ]
        for (const [what, sig] of bad) expect(check(sig, s.digest, s.publicKey), what).toBe(false)
      })

      it('refuses wrong lengths of signature, digest and key', () => {
        const s = freshSigned()
        const sigs = [new Uint8Array(0), s.sig.subarray(0, 63), Uint8Array.of(...s.sig, 0), Uint8Array.of(0, ...s.sig), new Uint8Array(72)]
        for (const sig of sigs) expect(check(sig, s.digest, s.publicKey), `sig of ${sig.length} bytes`).toBe(false)
        const digests = [new Uint8Array(0), s.digest.subarray(0, 31), Uint8Array.of(...s.digest, 0), Uint8Array.of(0, ...s.digest), new Uint8Array(64)]
        for (const digest of digests) expect(check(s.sig, digest, s.publicKey), `digest of ${digest.length} bytes`).toBe(false)
        const keys = [new Uint8Array(0), s.publicKey.subarray(0, 32), Uint8Array.of(...s.publicKey, 0), s.publicKey.subarray(1)]
        for (const key of keys) expect(check(s.sig, s.digest, key), `key of ${key.length} bytes`).toBe(false)
      })

      it('refuses invalid public keys without throwing', () => {
        const s = freshSigned()
        const x = s.publicKey.subarray(1)
        const keys: Array<[string, Uint8Array]> = [
          ['all zero', new Uint8Array(33)],
          ['prefix 0x00', Uint8Array.of(0x00, ...x)],
          ['prefix 0x04 with 33 bytes', Uint8Array.of(0x04, ...x)],
          ['prefix 0x05', Uint8Array.of(0x05, ...x)],
          ['prefix 0x06', Uint8Array.of(0x06, ...x)],
          ['prefix 0xff', Uint8Array.of(0xff, ...x)],
          ['x = 0', Uint8Array.of(0x02, ...new Uint8Array(32))],
          ['x = p', Uint8Array.of(0x02, ...scalarBytes(CURVE_P))],
          ['x = p + 1', Uint8Array.of(0x02, ...scalarBytes(CURVE_P + 1n))],
          ['x = 2^256 - 1', Uint8Array.of(0x03, ...new Uint8Array(32).fill(0xff))],
          ['x not on the curve', offCurveKey()]
        ]
        for (const [what, key] of keys) expect(check(s.sig, s.digest, key), what).toBe(false)
      })

      it('refuses random garbage signatures', () => {
        const s = freshSigned()
        for (let i = 0; i < 100; i++) expect(check(randomBytes(64), s.digest, s.publicKey)).toBe(false)
      })
    })
  })
}
