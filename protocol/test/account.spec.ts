/**
 * Text forms: bech32 account ids (`mg1…`) and grid ids (`mgrid1…`), the device QR URI, and strict
 * DER signatures from signers that only emit DER.
 */
import { createPublicKey, generateKeyPairSync, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto'
import { sha256 } from '@noble/hashes/sha2.js'
import { bech32, bech32m } from '@scure/base'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  ACCOUNT_PREFIX, AccountIdError, accountId, compactFromDer, deviceUri, fromHex, generateKeyPair, GRID_PREFIX, gridIdText,
  isLowSCompact, nobleVerifier, parseAccountId, parseDeviceUri, parseGridId, publicKeyOf, SECP256K1_HALF_N, toHex, URI_SCHEME
} from '../src/index.ts'
import { derFromCompact } from './helpers/der.ts'
import { device, PARTIES, registrar, scenario } from './helpers/fixtures.ts'

const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l'
const { grid } = scenario()

// frozen text forms, the same as in vectors/01-genesis.json and vectors/15-burn.json
const REGISTRAR_ID = 'mg1qvdcf32k0vfxgsyet5ldt246q4jaw8scx3sysx0lnstlt6w4m5rc756uma9'
const DEVICE_ID = 'mg1q2vfczmkedtrju0aexl0x8kqds6kpueyn4hwnewc83tky4vkup0k77xadej'
const GRID_ID = 'mgrid1cj3gkt8n6huz0dd9p9lex0q2kjaxzkrucxprfdp9ljzsfjlenkcsddv4pw'
const DEVICE_URI = `microgrid:${DEVICE_ID}?grid=${GRID_ID}`

const refused = (fn: () => unknown, message?: RegExp): void => {
  expect(fn).toThrow(AccountIdError)
  if (message !== undefined) expect(fn).toThrow(message)
}

describe('account ids', () => {
  it('are bech32 of the compressed key with the prefix mg', () => {
    expect(ACCOUNT_PREFIX).toBe('mg')
    expect(accountId(registrar.publicKey)).toBe(REGISTRAR_ID)
    expect(accountId(device.publicKey)).toBe(DEVICE_ID)
    expect(REGISTRAR_ID).toHaveLength(62)
    expect(toHex(parseAccountId(REGISTRAR_ID))).toBe(toHex(registrar.publicKey))
    // the plain bech32 (BIP 173) checksum, not bech32m
    const { prefix, words } = bech32.decode(REGISTRAR_ID as `${string}1${string}`)
    expect(prefix).toBe('mg')
    expect(toHex(bech32.fromWords(words))).toBe(toHex(registrar.publicKey))
  })

  it('round-trip for every fixture key and for random keys', () => {
    for (const p of PARTIES) expect(toHex(parseAccountId(accountId(p.publicKey)))).toBe(toHex(p.publicKey))
    for (let i = 0; i < 50; i++) {
      const { publicKey } = generateKeyPair()
      const id = accountId(publicKey)
      expect(id).toMatch(/^mg1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{59}$/)
      expect(toHex(parseAccountId(id))).toBe(toHex(publicKey))
    }
  })

  it('are read in upper case (for QR alphanumeric mode) and with surrounding spaces', () => {
    expect(toHex(parseAccountId(REGISTRAR_ID.toUpperCase()))).toBe(toHex(registrar.publicKey))
    expect(toHex(parseAccountId(`  ${REGISTRAR_ID}\n`))).toBe(toHex(registrar.publicKey))
  })

  it('mixed case is refused', () => {
    refused(() => parseAccountId(REGISTRAR_ID.slice(0, 10) + REGISTRAR_ID.slice(10).toUpperCase()), /not valid bech32/)
  })

  it('every single changed character is caught', () => {
    let tried = 0
    for (let i = 0; i < REGISTRAR_ID.length; i++) {
      for (const c of CHARSET + 'bio1M') {
        if (c === REGISTRAR_ID[i]) continue
        const typo = REGISTRAR_ID.slice(0, i) + c + REGISTRAR_ID.slice(i + 1)
        expect(() => parseAccountId(typo), typo).toThrow(AccountIdError)
        tried++
      }
    }
    expect(tried).toBeGreaterThan(2000)
  })

  it('swapped neighbours, a dropped and an added character are caught', () => {
    for (let i = 3; i < REGISTRAR_ID.length - 1; i++) {
      if (REGISTRAR_ID[i] === REGISTRAR_ID[i + 1]) continue
      const swapped = REGISTRAR_ID.slice(0, i) + REGISTRAR_ID[i + 1] + REGISTRAR_ID[i] + REGISTRAR_ID.slice(i + 2)
      refused(() => parseAccountId(swapped))
      refused(() => parseAccountId(REGISTRAR_ID.slice(0, i) + REGISTRAR_ID.slice(i + 1)))
      refused(() => parseAccountId(REGISTRAR_ID.slice(0, i) + 'q' + REGISTRAR_ID.slice(i)))
    }
  })

  it('a one-character change with the checksum recomputed is a different, valid account: the checksum guards typing, not forgery', () => {
    const words = bech32.toWords(registrar.publicKey)
    words[10] = (words[10] as number) ^ 1
    const other = bech32.encode('mg', words)
    expect(toHex(parseAccountId(other))).not.toBe(toHex(registrar.publicKey))
  })

  it('the wrong prefix is refused, naming both', () => {
    refused(() => parseAccountId(GRID_ID), /expected the prefix "mg1", got "mgrid1"/)
    refused(() => parseAccountId(bech32.encode('bc', bech32.toWords(registrar.publicKey))), /expected the prefix "mg1", got "bc1"/)
    refused(() => parseAccountId(bech32.encode('mgx', bech32.toWords(registrar.publicKey))), /prefix/)
  })

  it('a bech32m checksum is refused', () => {
    refused(() => parseAccountId(bech32m.encode('mg', bech32m.toWords(registrar.publicKey))), /not valid bech32/)
  })

  it('the wrong length is refused, naming it', () => {
    refused(() => parseAccountId(bech32.encode('mg', bech32.toWords(registrar.publicKey.subarray(1)))), /expected 33 bytes, got 32/)
    refused(() => parseAccountId(bech32.encode('mg', bech32.toWords(Uint8Array.of(...registrar.publicKey, 0)))), /expected 33 bytes, got 34/)
    refused(() => parseAccountId(bech32.encode('mg', [])), /expected 33 bytes, got 0/)
  })

  it('a payload that is not whole bytes is refused as AccountIdError (padding bits set, or too many)', () => {
    const words = bech32.toWords(registrar.publicKey)
    const dirty = [...words]
    dirty[dirty.length - 1] = (dirty[dirty.length - 1] as number) | 1 // 53 words carry 265 bits: the last bit is padding
    refused(() => parseAccountId(bech32.encode('mg', dirty)), /not valid bech32 \(Non-zero padding/)
    refused(() => parseAccountId(bech32.encode('mg', [...words, 0])), /not valid bech32 \(Excess padding/)
    const gridWords = bech32.toWords(grid)
    gridWords[gridWords.length - 1] = (gridWords[gridWords.length - 1] as number) | 1
    refused(() => parseGridId(bech32.encode('mgrid', gridWords)), /grid id: .* not valid bech32/)
  })

  it('33 bytes that are not a compressed key are refused', () => {
    const uncompressedPrefix = Uint8Array.of(4, ...registrar.publicKey.subarray(1))
    refused(() => parseAccountId(bech32.encode('mg', bech32.toWords(uncompressedPrefix))), /not a compressed secp256k1 key/)
    refused(() => accountId(uncompressedPrefix), /33-byte compressed/)
    refused(() => accountId(publicKeyOf(registrar.secretKey).subarray(1)), /got 32 bytes/)
    refused(() => accountId(new Uint8Array(65).fill(4)), /got 65 bytes/)
  })

  it('garbage is refused with AccountIdError', () => {
    for (const text of ['', 'mg1', '1', 'mg', 'hello', 'mg1qqqqqq', 'x'.repeat(300), `${REGISTRAR_ID}${REGISTRAR_ID}`, 'mg1' + 'b'.repeat(59), 'mg 1qvdcf']) {
      refused(() => parseAccountId(text))
    }
    refused(() => parseAccountId(null as unknown as string), /expected text/)
    refused(() => parseAccountId(42 as unknown as string), /expected text/)
  })
})

describe('grid ids', () => {
  it('are bech32 of the genesis op id with the prefix mgrid', () => {
    expect(GRID_PREFIX).toBe('mgrid')
    expect(gridIdText(grid)).toBe(GRID_ID)
    expect(toHex(parseGridId(GRID_ID))).toBe(toHex(grid))
    expect(toHex(parseGridId(GRID_ID.toUpperCase()))).toBe(toHex(grid))
  })

  it('round-trip any 32 bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), id => {
      const text = gridIdText(id)
      expect(text.startsWith('mgrid1')).toBe(true)
      expect(text).toHaveLength(64)
      expect(toHex(parseGridId(text))).toBe(toHex(id))
    }), { numRuns: 200 })
  })

  it('refuse changed characters, account ids, other lengths', () => {
    for (let i = 6; i < GRID_ID.length; i++) {
      const c = GRID_ID[i] === 'q' ? 'p' : 'q'
      refused(() => parseGridId(GRID_ID.slice(0, i) + c + GRID_ID.slice(i + 1)))
    }
    refused(() => parseGridId(REGISTRAR_ID), /expected the prefix "mgrid1", got "mg1"/)
    refused(() => parseGridId(bech32.encode('mgrid', bech32.toWords(registrar.publicKey))), /expected 32 bytes, got 33/)
    refused(() => gridIdText(grid.subarray(1)), /expected 32 bytes, got 31/)
  })
})

describe('device URI', () => {
  it('is microgrid:<account>?grid=<grid>', () => {
    expect(URI_SCHEME).toBe('microgrid')
    expect(deviceUri({ account: device.publicKey, grid })).toBe(DEVICE_URI)
    const link = parseDeviceUri(DEVICE_URI)
    expect(toHex(link.account)).toBe(toHex(device.publicKey))
    expect(toHex(link.grid)).toBe(toHex(grid))
  })

  it('round-trips for random keys and grids', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 0, max: PARTIES.length - 1 }), (g, i) => {
      const account = (PARTIES[i] as typeof PARTIES[number]).publicKey
      const link = parseDeviceUri(deviceUri({ account, grid: g }))
      expect(toHex(link.account)).toBe(toHex(account))
      expect(toHex(link.grid)).toBe(toHex(g))
    }), { numRuns: 100 })
  })

  it('accepts upper case, the web+microgrid: scheme and surrounding spaces', () => {
    for (const uri of [
      DEVICE_URI.toUpperCase(),
      `web+${DEVICE_URI}`,
      `WEB+${DEVICE_URI}`.toUpperCase(),
      `MICROGRID:${DEVICE_ID}?grid=${GRID_ID}`,
      `microgrid:${DEVICE_ID.toUpperCase()}?GRID=${GRID_ID}`,
      ` ${DEVICE_URI}\n`
    ]) {
      const link = parseDeviceUri(uri)
      expect(toHex(link.account), uri).toBe(toHex(device.publicKey))
      expect(toHex(link.grid), uri).toBe(toHex(grid))
    }
  })

  it('refuses garbage with AccountIdError', () => {
    const typo = DEVICE_ID.slice(0, 20) + (DEVICE_ID[20] === 'q' ? 'p' : 'q') + DEVICE_ID.slice(21)
    for (const uri of [
      '', 'microgrid:', `microgrid:${DEVICE_ID}`, `microgrid:?grid=${GRID_ID}`, `microgrid:${DEVICE_ID}?grid=`,
      `microgrid:${DEVICE_ID}?grid=${GRID_ID}&x=1`, `microgrid:${DEVICE_ID}?grid=${GRID_ID}#top`,
      `microgrid:${DEVICE_ID}?net=${GRID_ID}`, `microgrid://${DEVICE_ID}?grid=${GRID_ID}`,
      `https://example.com/${DEVICE_ID}?grid=${GRID_ID}`, `bitcoin:${DEVICE_ID}?grid=${GRID_ID}`,
      `web+microgrid+x:${DEVICE_ID}?grid=${GRID_ID}`, `xmicrogrid:${DEVICE_ID}?grid=${GRID_ID}`,
      `webmicrogrid:${DEVICE_ID}?grid=${GRID_ID}`, `web+web+microgrid:${DEVICE_ID}?grid=${GRID_ID}`,
      `microgrid:${GRID_ID}?grid=${DEVICE_ID}`,
      `microgrid:${typo}?grid=${GRID_ID}`, `microgrid:${DEVICE_ID}?grid=${GRID_ID.slice(0, -1)}`,
      `microgrid:${DEVICE_ID}?grid=${GRID_ID}`.padEnd(513, ' '), 'x'.repeat(10_000)
    ]) {
      expect(() => parseDeviceUri(uri), uri.slice(0, 100)).toThrow(AccountIdError)
    }
    refused(() => parseDeviceUri('hello'), /device link: expected "microgrid:<account>\?grid=<grid>", got "hello"/)
    refused(() => parseDeviceUri(`microgrid:${GRID_ID}?grid=${DEVICE_ID}`), /account id: expected the prefix "mg1"/)
    refused(() => parseDeviceUri(undefined as unknown as string), /expected text/)
  })

  it('deviceUri refuses what is not a key or a grid id', () => {
    refused(() => deviceUri({ account: grid, grid }))
    refused(() => deviceUri({ account: device.publicKey, grid: device.publicKey }))
  })
})

describe('compactFromDer', () => {
  const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
  const be32 = (x: bigint): Uint8Array => fromHex(x.toString(16).padStart(64, '0'))
  const compact = (r: bigint, s: bigint): Uint8Array => Uint8Array.of(...be32(r), ...be32(s))
  const hex = (h: string): Uint8Array => fromHex(h.replace(/\s+/g, ''))

  it('reads strict DER back to the 64-byte compact form', () => {
    for (const s of scenario().samples) expect(toHex(compactFromDer(derFromCompact(s.sig)))).toBe(toHex(s.sig))
    for (const sig of [
      compact(1n, 1n), // one-byte integers
      compact(0x80n, 0x7fn), // 0x80 needs a zero byte in front, 0x7f does not
      compact(n - 1n, SECP256K1_HALF_N), // 33-byte r, the largest low s
      compact(0x00ff_ffffn, 2n ** 247n) // leading zero bytes dropped
    ]) {
      const der = derFromCompact(sig)
      expect(toHex(compactFromDer(der))).toBe(toHex(sig))
    }
    expect(toHex(derFromCompact(compact(1n, 0x80n)))).toBe('3007020101020200' + '80')
  })

  it('round-trips any r and s', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 64, maxLength: 64 }), sig => {
      expect(toHex(compactFromDer(derFromCompact(sig)))).toBe(toHex(sig))
    }), { numRuns: 500 })
  })

  it('agrees with OpenSSL: DER signatures from node:crypto verify once converted, after low-S normalisation', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp256k1' })
    const jwk = publicKey.export({ format: 'jwk' })
    const x = Buffer.from(jwk.x as string, 'base64url')
    const y = Buffer.from(jwk.y as string, 'base64url')
    const compressed = Uint8Array.of(2 + ((y[31] as number) & 1), ...x)
    expect(createPublicKey({ key: jwk, format: 'jwk' }).asymmetricKeyType).toBe('ec')
    let highS = 0
    for (let i = 0; i < 40; i++) {
      const message = Buffer.from(`message ${i}`)
      const der = cryptoSign('sha256', message, { key: privateKey, dsaEncoding: 'der' })
      const sig = compactFromDer(der)
      expect(cryptoVerify('sha256', message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig)).toBe(true)
      // OpenSSL does not normalise s; the ledger accepts only the low-S twin
      const s = BigInt('0x' + toHex(sig.subarray(32)))
      if (s > SECP256K1_HALF_N) {
        highS++
        expect(isLowSCompact(sig)).toBe(false)
        expect(nobleVerifier.verify(sig, sha256(message), compressed)).toBe(false)
        sig.set(be32(n - s), 32)
      }
      expect(isLowSCompact(sig)).toBe(true)
      expect(nobleVerifier.verify(sig, sha256(message), compressed)).toBe(true)
    }
    expect(highS).toBeGreaterThan(0) // about half of them; 40 tries make none vanishingly unlikely
  })

  it('refuses BER and malformed forms', () => {
    const len = (h: string): string => (h.length / 2).toString(16).padStart(2, '0')
    const int = (body: string): string => '02' + len(body) + body
    const seq = (...items: string[]): string => '30' + len(items.join('')) + items.join('')
    const r = int('00' + '80'.padEnd(64, '0')) // 33 bytes: the zero byte keeps it positive
    const s = int('1234')
    const good = seq(r, s)
    expect(toHex(derFromCompact(compact(0x80n << 248n, 0x1234n)))).toBe(good)
    expect(toHex(compactFromDer(hex(good)))).toBe(toHex(compact(0x80n << 248n, 0x1234n)))
    const cases: Array<[string, string, RegExp]> = [
      ['long-form SEQUENCE length', '3081' + len(r + s) + r + s, /SEQUENCE length does not match/],
      ['long-form INTEGER length', seq('028121' + '00' + '80'.padEnd(64, '0'), s), /bad INTEGER length/],
      ['indefinite SEQUENCE length', '3080' + r + s + '0000', /SEQUENCE length does not match/],
      ['needless leading zero', seq(int('0001'), s), /needless leading zero/],
      ['needless leading zero on a 33-byte value', seq(int('00' + '7f'.padEnd(64, '0')), s), /needless leading zero/],
      ['needless leading zeros', seq(int('0000' + '80'.padEnd(62, '0')), s), /needless leading zero/],
      ['negative INTEGER', seq(int('80'.padEnd(64, '0')), s), /negative INTEGER/],
      ['negative s', seq(r, int('ff')), /negative INTEGER/],
      ['an INTEGER over 32 bytes', seq(int('01' + '80'.padEnd(64, '0')), s), /larger than 32 bytes/],
      ['an INTEGER of 34 bytes', seq(int('0080' + '80'.padEnd(64, '0')), s), /bad INTEGER length/],
      ['an empty INTEGER', seq('0200', s, '0000'), /bad INTEGER length/],
      ['not a SEQUENCE', '31' + good.slice(2), /expected a SEQUENCE/],
      ['not an INTEGER', seq('03' + r.slice(2), s), /expected an INTEGER/],
      ['SEQUENCE length too short', '30' + (good.length / 2 - 3).toString(16) + r + s, /SEQUENCE length does not match/],
      ['SEQUENCE length too long', '30' + (good.length / 2 - 1).toString(16) + r + s, /SEQUENCE length does not match/],
      ['a third INTEGER', seq(r, s, int('01')), /trailing bytes/],
      ['trailing bytes after the SEQUENCE', good + '00', /SEQUENCE length does not match/],
      ['an INTEGER running past the end', seq(r, '0203' + '1234'), /INTEGER runs past the end/],
      ['truncated', good.slice(0, -4), /SEQUENCE length does not match/],
      ['too short', '300602010102', /8 to 72 bytes/],
      ['too long', seq(r, int('00'.repeat(35))), /8 to 72 bytes/],
      ['one INTEGER only', seq(r, '02'), /trailing bytes|INTEGER/]
    ]
    for (const [name, h, message] of cases) {
      let error: unknown
      try {
        compactFromDer(hex(h))
      } catch (err) {
        error = err
      }
      expect(error, name).toBeInstanceOf(RangeError)
      expect((error as Error).message, name).toMatch(/^DER signature: /)
      expect((error as Error).message, name).toMatch(message)
    }
  })
})
