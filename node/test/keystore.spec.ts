import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { accountId, publicKeyOf } from '@microgrid/protocol'
import {
  KeystoreError, LIGHT_SCRYPT, STANDARD_SCRYPT, WrongPassphraseError, decryptKey, encryptKey, ethereumAddress, loadKey,
  parseKeystore, passphraseFrom, promptHidden, readKeystore, saveKey, writeKeystore, type KeystoreJson
} from '../src/keystore.ts'
import { KEY_INDEX, KeyRing } from '../src/keys.ts'

// A rename that fails on demand: an interrupted write between the temporary file and the rename.
const renameFault = vi.hoisted(() => ({ fail: false, calls: 0 }))
vi.mock('node:fs/promises', async importOriginal => {
  const actual = await importOriginal<typeof import('node:fs/promises')>()
  return {
    ...actual,
    rename: async (from: string, to: string) => {
      renameFault.calls++
      if (renameFault.fail) throw Object.assign(new Error('EIO: i/o error, rename (injected)'), { code: 'EIO' })
      await actual.rename(from, to)
    }
  }
})

const VECTORS = fileURLToPath(new URL('./vectors/', import.meta.url))
const KEYSTORE_MODULE = pathToFileURL(fileURLToPath(new URL('../src/keystore.ts', import.meta.url))).href
const vector = (name: string): any => JSON.parse(readFileSync(join(VECTORS, name), 'utf8'))
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')
const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'))
const clone = <T>(value: T): T => structuredClone(value)
/** The secret key of 1 + a few bytes: any valid key will do. */
const KEY = bytes('4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318')
const SLOW = 180_000

let dir: string
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'keystore-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

async function errorOf (promise: Promise<unknown>): Promise<Error> {
  return await promise.then(() => { throw new Error('expected an error') }, (err: unknown) => err as Error)
}

describe('published test vectors', () => {
  const web3 = vector('web3-secret-storage.json')

  it('the Web3 Secret Storage PBKDF2 vector: decrypts to its secret, and our encrypt reproduces its ciphertext and mac', async () => {
    const v = web3.pbkdf2
    const key = await decryptKey(v.json, v.password)
    expect(hex(key)).toBe(v.secret)
    expect(ethereumAddress(key)).toBe(v.address)
    const json = await encryptKey(key, v.password, {
      kdf: { c: v.json.crypto.kdfparams.c }, salt: bytes(v.json.crypto.kdfparams.salt), iv: bytes(v.json.crypto.cipherparams.iv), uuid: v.json.id
    })
    expect(json.crypto).toEqual(v.json.crypto)
    expect(json).toEqual({ ...v.json, address: v.address })
  }, SLOW)

  it('the Web3 Secret Storage scrypt vector (n = 2^18, r = 1, p = 8): decrypts to its secret, and our encrypt reproduces it', async () => {
    // r = 1 with n = 2^18 is past OpenSSL's n < 2^(16 r) (RFC 7914's bound, withdrawn by its errata):
    // node:crypto refuses it, so the module derives such keys with @noble/hashes' scrypt.
    const v = web3.scrypt
    const { n, r, p, salt } = v.json.crypto.kdfparams
    const [key, json] = await Promise.all([
      decryptKey(v.json, v.password),
      encryptKey(bytes(v.secret), v.password, { kdf: { n, r, p }, salt: bytes(salt), iv: bytes(v.json.crypto.cipherparams.iv), uuid: v.json.id })
    ])
    expect(hex(key)).toBe(v.secret)
    expect(json.crypto.ciphertext).toBe(v.json.crypto.ciphertext)
    expect(json.crypto.mac).toBe(v.json.crypto.mac)
    expect(json).toEqual({ ...v.json, address: v.address })
  }, SLOW)

  it('ethereumjs-wallet\'s vectors (STANDARD_SCRYPT and PBKDF2): our encrypt writes them exactly, address included', async () => {
    const v = vector('ethereumjs-wallet.json')
    const secret = bytes(v.secret)
    const given = { salt: bytes(v.salt), iv: bytes(v.iv), uuid: v.uuid }
    expect(STANDARD_SCRYPT).toEqual({ n: v.scrypt.crypto.kdfparams.n, r: v.scrypt.crypto.kdfparams.r, p: v.scrypt.crypto.kdfparams.p })
    // (Decrypting a file with the standard parameters is shown by the ethereum.org test below.)
    const [scrypt, pbkdf2, fromPbkdf2] = await Promise.all([
      encryptKey(secret, v.password, given), // STANDARD_SCRYPT is the default
      encryptKey(secret, v.password, { ...given, kdf: { c: 262144 } }),
      decryptKey(JSON.stringify(v.pbkdf2), v.password)
    ])
    expect(scrypt).toEqual(v.scrypt)
    expect(pbkdf2).toEqual(v.pbkdf2)
    expect(hex(fromPbkdf2)).toBe(v.secret)
  }, SLOW)

  it('go-ethereum\'s keystore testdata: 30- and 31-byte keys (left-padded), and geth-written files whose key matches their address', async () => {
    const v = vector('go-ethereum.json')
    expect(hex(await decryptKey(v['31_byte_key'].json, v['31_byte_key'].password))).toBe('00' + v['31_byte_key'].secret)
    expect(hex(await decryptKey(v['30_byte_key'].json, v['30_byte_key'].password))).toBe('0000' + v['30_byte_key'].secret)
    for (const name of ['very-light-scrypt', 'keystore/aaa', 'keystore/zzz']) {
      const { json, password } = v[name]
      const key = await decryptKey(json, password)
      expect(ethereumAddress(key), name).toBe(json.address)
      expect(await errorOf(decryptKey(json, password + 'bad')), name).toBeInstanceOf(WrongPassphraseError)
    }
  })

  it('refuses the scrypt vector ethereum.org has published since 2023: it was made with its salt read as text, not hex', async () => {
    // Its intermediates ("Derived key: 7446f59e…") come from scrypt over the UTF-8 of the salt's 64 hex
    // digits; decoded as the standard says, the MAC does not match. geth refuses it the same way.
    const v = vector('ethereum-org-2023-scrypt.json')
    const asText = clone(v.json)
    asText.crypto.kdfparams.salt = Buffer.from(v.json.crypto.kdfparams.salt, 'utf8').toString('hex')
    const [refused, key] = await Promise.all([errorOf(decryptKey(v.json, v.password)), decryptKey(asText, v.password)])
    expect(refused).toBeInstanceOf(WrongPassphraseError)
    expect(hex(key)).toBe(v.secret) // n = 2^18, r = 8, p = 1: a file with the standard parameters decrypts
  }, SLOW)
})

describe('encryptKey and decryptKey', () => {
  it('round-trips a key in a standard keystore: exactly the standard\'s fields, the key\'s address, fresh salt and iv each time', async () => {
    const [a, b] = await Promise.all([encryptKey(KEY, 'correct horse', { kdf: LIGHT_SCRYPT }), encryptKey(KEY, 'correct horse', { kdf: LIGHT_SCRYPT })])
    expect(Object.keys(a).sort()).toEqual(['address', 'crypto', 'id', 'version'])
    expect(Object.keys(a.crypto).sort()).toEqual(['cipher', 'cipherparams', 'ciphertext', 'kdf', 'kdfparams', 'mac'])
    expect(a).toMatchObject({ version: 3, address: ethereumAddress(KEY), crypto: { cipher: 'aes-128-ctr', kdf: 'scrypt', kdfparams: { dklen: 32, n: 2 ** 14, r: 8, p: 1 } } })
    expect(a.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(a.crypto.kdfparams.salt).toMatch(/^[0-9a-f]{64}$/)
    expect(a.crypto.cipherparams.iv).not.toBe(b.crypto.cipherparams.iv)
    expect(a.crypto.kdfparams.salt).not.toBe(b.crypto.kdfparams.salt)
    expect(a.crypto.ciphertext).not.toBe(b.crypto.ciphertext)
    expect(JSON.stringify(a)).not.toContain(hex(KEY))
    expect(await decryptKey(a, 'correct horse')).toEqual(KEY)
    expect(await decryptKey(JSON.stringify(b), 'correct horse')).toEqual(KEY)
    expect(parseKeystore(a)).toEqual(a)
  })

  it('a wrong passphrase is a WrongPassphraseError that names the keystore or its file', async () => {
    const json = await encryptKey(KEY, 'right', { kdf: LIGHT_SCRYPT })
    const err = await errorOf(decryptKey(json, 'wrong'))
    expect(err).toBeInstanceOf(WrongPassphraseError)
    expect(err).toBeInstanceOf(KeystoreError)
    expect(err.message).toBe(`wrong passphrase for keystore ${json.id}`)
    const path = join(dir, 'wrong.json')
    await writeKeystore(path, json)
    const fromFile = await errorOf(loadKey(path, 'Right'))
    expect(fromFile).toBeInstanceOf(WrongPassphraseError)
    expect(fromFile.message).toBe(`wrong passphrase for ${path}`)
    expect((fromFile as KeystoreError).file).toBe(path)
  })

  it('passphrases are their UTF-8 bytes, unnormalised, as geth reads them', async () => {
    const composed = 'caf\u00e9 ☀ 電気'
    const json = await encryptKey(KEY, composed, { kdf: LIGHT_SCRYPT })
    expect(await decryptKey(json, composed)).toEqual(KEY)
    expect(await errorOf(decryptKey(json, composed.normalize('NFD')))).toBeInstanceOf(WrongPassphraseError)
  })

  it('an altered ciphertext fails the MAC; an altered iv (outside the MAC) is caught by the address', async () => {
    const json = await encryptKey(KEY, 'pw', { kdf: LIGHT_SCRYPT })
    const flipped = (h: string): string => (h[0] === '0' ? '1' : '0') + h.slice(1)
    const badCipher = clone(json)
    badCipher.crypto.ciphertext = flipped(json.crypto.ciphertext)
    expect(await errorOf(decryptKey(badCipher, 'pw'))).toBeInstanceOf(WrongPassphraseError)
    const badIv = clone(json)
    badIv.crypto.cipherparams.iv = flipped(json.crypto.cipherparams.iv)
    const err = await errorOf(decryptKey(badIv, 'pw'))
    expect(err).toBeInstanceOf(KeystoreError)
    expect(err).not.toBeInstanceOf(WrongPassphraseError)
    expect(err.message).toMatch(/address: .* is not the address of the key this file holds/)
    const swapped = clone(json)
    swapped.address = '00'.repeat(20)
    expect((await errorOf(decryptKey(swapped, 'pw'))).message).toMatch(/address/)
  })

  it('reads what other wallets write: a capitalised "Crypto", an upper-case 0x address, no address at all', async () => {
    const json = await encryptKey(KEY, 'pw', { kdf: LIGHT_SCRYPT })
    const { crypto, ...rest } = json
    expect(await decryptKey({ ...rest, Crypto: crypto }, 'pw')).toEqual(KEY)
    expect(await decryptKey({ ...json, address: '0x' + json.address!.toUpperCase() }, 'pw')).toEqual(KEY)
    expect(await decryptKey({ ...rest, crypto }, 'pw')).toEqual(KEY)
    expect(await decryptKey({ ...json, address: undefined }, 'pw')).toEqual(KEY)
  })

  it('a malformed keystore is a KeystoreError naming the field, found before any key derivation', async () => {
    // Standard parameters: a check made after deriving the key would take a second, not milliseconds.
    const good: KeystoreJson = await encryptKey(KEY, 'pw', { kdf: LIGHT_SCRYPT })
    if (good.crypto.kdf === 'scrypt') good.crypto.kdfparams.n = STANDARD_SCRYPT.n
    const cases: Array<[string, (k: any) => unknown, RegExp]> = [
      ['not an object', () => 'nope', /^keystore: not valid JSON/],
      ['an array', () => [good], /keystore: expected an object, got an array/],
      ['null', () => null, /keystore: expected an object, got null/],
      ['version 1', k => { k.version = 1 }, /version: expected 3 .*got 1/],
      ['version as text', k => { k.version = '3' }, /version: expected 3/],
      ['no id', k => { delete k.id }, /^keystore: id: expected a UUID/],
      ['no crypto', k => { delete k.crypto }, /crypto: expected an object, got nothing/],
      ['aes-128-cbc', k => { k.crypto.cipher = 'aes-128-cbc' }, /crypto\.cipher: expected "aes-128-ctr", got "aes-128-cbc"/],
      ['no iv', k => { delete k.crypto.cipherparams.iv }, /crypto\.cipherparams\.iv: expected hex text, got nothing/],
      ['short iv', k => { k.crypto.cipherparams.iv = 'abcd' }, /crypto\.cipherparams\.iv: expected 16 bytes, got 2/],
      ['odd hex', k => { k.crypto.ciphertext = k.crypto.ciphertext.slice(1) }, /crypto\.ciphertext: expected hex text \(an even number/],
      ['non-hex', k => { k.crypto.mac = 'zz' + k.crypto.mac.slice(2) }, /crypto\.mac: expected hex text/],
      ['long ciphertext', k => { k.crypto.ciphertext += '00' }, /crypto\.ciphertext: expected at most 32 bytes, got 33/],
      ['empty ciphertext', k => { k.crypto.ciphertext = '' }, /crypto\.ciphertext: expected at least 1 bytes, got 0/],
      ['short mac', k => { k.crypto.mac = k.crypto.mac.slice(2) }, /crypto\.mac: expected 32 bytes, got 31/],
      ['argon2', k => { k.crypto.kdf = 'argon2id' }, /crypto\.kdf: expected "scrypt" or "pbkdf2", got "argon2id"/],
      ['no kdfparams', k => { delete k.crypto.kdfparams }, /crypto\.kdfparams: expected an object/],
      ['n not a power of 2', k => { k.crypto.kdfparams.n = 3000 }, /crypto\.kdfparams\.n: expected a power of 2, got 3000/],
      ['n as text', k => { k.crypto.kdfparams.n = '16384' }, /crypto\.kdfparams\.n: expected an integer, got "16384"/],
      ['n too large', k => { k.crypto.kdfparams.n = 2 ** 21 }, /crypto\.kdfparams\.n: n = 2097152 with r = 8 needs 2049 MiB, more than the 1024 MiB allowed/],
      ['p too large', k => { k.crypto.kdfparams.p = 1000 }, /crypto\.kdfparams\.p: n·r·p = 2097152000 is more work/],
      ['r zero', k => { k.crypto.kdfparams.r = 0 }, /crypto\.kdfparams\.r: expected 1 to 1024, got 0/],
      ['dklen 16', k => { k.crypto.kdfparams.dklen = 16 }, /crypto\.kdfparams\.dklen: expected 32 to 1024, got 16/],
      ['no salt', k => { delete k.crypto.kdfparams.salt }, /crypto\.kdfparams\.salt: expected hex text, got nothing/],
      ['pbkdf2 without c', k => { k.crypto.kdf = 'pbkdf2'; k.crypto.kdfparams.prf = 'hmac-sha256' }, /crypto\.kdfparams\.c: expected an integer, got nothing/],
      ['pbkdf2 sha512', k => { k.crypto.kdf = 'pbkdf2'; k.crypto.kdfparams.c = 10; k.crypto.kdfparams.prf = 'hmac-sha512' }, /crypto\.kdfparams\.prf: expected "hmac-sha256", got "hmac-sha512"/],
      ['bad address', k => { k.address = 'xyz' }, /address: expected hex text/]
    ]
    for (const [what, mutate, message] of cases) {
      const k = clone(good) as any
      const result = mutate(k)
      const input = result === undefined ? k : result
      const started = performance.now()
      const err = await errorOf(decryptKey(input, 'pw'))
      expect(err, what).toBeInstanceOf(KeystoreError)
      expect(err, what).not.toBeInstanceOf(WrongPassphraseError)
      expect(err.message, what).toMatch(message)
      expect(performance.now() - started, `${what}: refused before deriving a key`).toBeLessThan(400)
    }
    const err = await errorOf(decryptKey({ ...good, crypto: { ...good.crypto, mac: 'ab' } }, 'pw', { file: 'keys/node.json' }))
    expect(err.message).toBe('keys/node.json: crypto.mac: expected 32 bytes, got 1')
    expect(err).toMatchObject({ file: 'keys/node.json', field: 'crypto.mac' })
  })

  it('refuses to encrypt what is not a secp256k1 secret key, and bad options, naming them', async () => {
    const n = bytes('fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141')
    const cases: Array<[Promise<unknown>, RegExp]> = [
      [encryptKey(KEY.subarray(1), 'pw', { kdf: LIGHT_SCRYPT }), /expected a 32-byte secp256k1 secret key, got 31 bytes/],
      [encryptKey(new Uint8Array(32), 'pw', { kdf: LIGHT_SCRYPT }), /not a secp256k1 secret key/],
      [encryptKey(n, 'pw', { kdf: LIGHT_SCRYPT }), /not a secp256k1 secret key/],
      [encryptKey(hex(KEY) as never, 'pw', { kdf: LIGHT_SCRYPT }), /expected a 32-byte secp256k1 secret key, got "4c08/],
      [encryptKey(KEY, undefined as never, { kdf: LIGHT_SCRYPT }), /expected the passphrase as text/],
      [encryptKey(KEY, 'pw', { kdf: LIGHT_SCRYPT, salt: new Uint8Array(8) }), /salt: expected 16 to 1024 bytes, got 8/],
      [encryptKey(KEY, 'pw', { kdf: LIGHT_SCRYPT, iv: new Uint8Array(12) }), /iv: expected 16 bytes, got 12/],
      [encryptKey(KEY, 'pw', { kdf: LIGHT_SCRYPT, uuid: 'node-1' }), /uuid: expected a UUID/],
      [encryptKey(KEY, 'pw', { kdf: { n: 1000, r: 8, p: 1 } }), /kdf\.n: expected a power of 2, got 1000/],
      [encryptKey(KEY, 'pw', { kdf: { n: 2 ** 21, r: 8, p: 1 } }), /kdf\.n: .* more than the 1024 MiB allowed/],
      [encryptKey(KEY, 'pw', { kdf: { c: 0 } }), /kdf\.c: expected 1 to/]
    ]
    for (const [promise, message] of cases) {
      const err = await errorOf(promise)
      expect(err).toBeInstanceOf(KeystoreError)
      expect(err.message).toMatch(message)
    }
  })

  it('the Ethereum address of the standard\'s test key, from node:crypto\'s secp256k1', () => {
    expect(ethereumAddress(bytes('7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d'))).toBe('008aeeda4d805471df9b2a5b0f38a0c3bcba786b')
  })
})

describe('keystore files', () => {
  it('writes a keystore atomically with mode 0600 and reads it back; nothing else is left in the directory', async () => {
    const sub = await mkdtemp(join(dir, 'write-'))
    const path = join(sub, 'node.json')
    const json = await saveKey(path, KEY, 'pw', { kdf: LIGHT_SCRYPT })
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect(await readdir(sub)).toEqual(['node.json'])
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(json)
    expect(await readKeystore(path)).toEqual(json)
    expect(await loadKey(path, 'pw')).toEqual(KEY)
  })

  it('a key never touches the disk in plain text', async () => {
    const sub = await mkdtemp(join(dir, 'plain-'))
    const secret = randomBytes(32)
    await saveKey(join(sub, 'a.json'), secret, 'pw', { kdf: LIGHT_SCRYPT })
    const ring = await KeyRing.open(join(sub, 'ring'))
    await ring.add('b', secret, 'pw', { kdf: LIGHT_SCRYPT })
    const files = [join(sub, 'a.json'), join(sub, 'ring', 'b.json'), join(sub, 'ring', KEY_INDEX)]
    expect((await readdir(sub)).sort()).toEqual(['a.json', 'ring'])
    expect((await readdir(join(sub, 'ring'))).sort()).toEqual(['b.json', KEY_INDEX])
    for (const file of files) {
      const raw = await readFile(file)
      for (const form of [secret, Buffer.from(secret.toString('hex')), Buffer.from(secret.toString('hex').toUpperCase()), Buffer.from(secret.toString('base64'))]) {
        expect(raw.includes(form), file).toBe(false)
      }
    }
  })

  it('a missing, empty, truncated or corrupted file is a KeystoreError saying which and what', async () => {
    const sub = await mkdtemp(join(dir, 'bad-'))
    const path = join(sub, 'k.json')
    expect((await errorOf(readKeystore(path))).message).toBe(`no keystore at ${path}`)
    await writeFile(path, '')
    expect((await errorOf(readKeystore(path))).message).toBe(`${path}: the file is empty`)
    const text = JSON.stringify(await encryptKey(KEY, 'pw', { kdf: LIGHT_SCRYPT }))
    for (const cut of [1, 40, text.length - 1]) {
      await writeFile(path, text.slice(0, cut))
      const err = await errorOf(loadKey(path, 'pw'))
      expect(err).toBeInstanceOf(KeystoreError)
      expect(err.message).toMatch(new RegExp(`^${path}: not valid JSON, truncated or corrupted`))
    }
    await writeFile(path, text.replace(/"mac":"[0-9a-f]{10}/, '"mac":"'))
    expect((await errorOf(loadKey(path, 'pw'))).message).toBe(`${path}: crypto.mac: expected 32 bytes, got 27`)
    await writeFile(path, text.replace('"n":16384', '"n":16385'))
    expect((await errorOf(loadKey(path, 'pw'))).message).toBe(`${path}: crypto.kdfparams.n: expected a power of 2, got 16385`)
    await writeFile(path, text.replace(/"ciphertext":"(.)/, (_m, c: string) => `"ciphertext":"${c === 'a' ? 'b' : 'a'}`))
    expect((await errorOf(loadKey(path, 'pw'))).message).toBe(`wrong passphrase for ${path}`)
  })

  it('refuses to write a malformed keystore, and leaves the old one as it was', async () => {
    const sub = await mkdtemp(join(dir, 'refuse-'))
    const path = join(sub, 'k.json')
    const old = await saveKey(path, KEY, 'old', { kdf: LIGHT_SCRYPT })
    const bad = { ...old, crypto: { ...old.crypto, mac: 'nope' } }
    expect((await errorOf(writeKeystore(path, bad))).message).toMatch(/crypto\.mac: expected hex text/)
    expect(await readKeystore(path)).toEqual(old)
    expect(await readdir(sub)).toEqual(['k.json'])
  })

  it('an interrupted write (the rename fails) never loses the old keystore, and leaves no temporary file', async () => {
    const sub = await mkdtemp(join(dir, 'interrupt-'))
    const path = join(sub, 'k.json')
    await saveKey(path, KEY, 'old passphrase', { kdf: LIGHT_SCRYPT })
    const before = await readFile(path, 'utf8')
    const next = await encryptKey(KEY, 'new passphrase', { kdf: LIGHT_SCRYPT })
    renameFault.fail = true
    const calls = renameFault.calls
    let err: Error
    try {
      err = await errorOf(writeKeystore(path, next))
    } finally {
      renameFault.fail = false
    }
    expect(renameFault.calls).toBe(calls + 1)
    expect(err).toBeInstanceOf(KeystoreError)
    expect(err.message).toBe(`cannot write ${path}: EIO (the old file, if any, is unchanged)`)
    expect(await readFile(path, 'utf8')).toBe(before)
    expect(await loadKey(path, 'old passphrase')).toEqual(KEY)
    expect(await readdir(sub)).toEqual(['k.json'])
    await writeKeystore(path, next)
    expect(await loadKey(path, 'new passphrase')).toEqual(KEY)
  })

  it('a process killed between writing the temporary file and renaming it: the old keystore is intact, the leftover is ignored, then cleaned by the next write', async () => {
    const sub = await mkdtemp(join(dir, 'crash-'))
    const path = join(sub, 'k.json')
    await saveKey(path, KEY, 'old passphrase', { kdf: LIGHT_SCRYPT })
    const before = await readFile(path, 'utf8')
    const next = await encryptKey(KEY, 'new passphrase', { kdf: LIGHT_SCRYPT })
    // The child's rename is a SIGKILL: it dies with its temporary file written and synced, not renamed.
    const script = `
      import fsp from 'node:fs/promises'
      import { syncBuiltinESMExports } from 'node:module'
      fsp.rename = async () => { process.kill(process.pid, 'SIGKILL'); await new Promise(() => {}) }
      syncBuiltinESMExports()
      const { writeKeystore } = await import(process.argv[1])
      await writeKeystore(process.argv[2], JSON.parse(process.argv[3]))
      process.exit(0)`
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script, KEYSTORE_MODULE, path, JSON.stringify(next)], { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
    const signal = await new Promise<NodeJS.Signals | null>((resolve, reject) => { child.on('error', reject); child.on('close', (_code, sig) => resolve(sig)) })
    expect(signal, stderr).toBe('SIGKILL')
    const names = (await readdir(sub)).sort()
    expect(names).toHaveLength(2)
    const leftover = names.find(name => name !== 'k.json')!
    expect(leftover).toMatch(new RegExp(`^\\.k\\.json\\.${child.pid}\\.[0-9a-f]{12}\\.tmp$`))
    expect(JSON.parse(await readFile(join(sub, leftover), 'utf8'))).toEqual(next) // complete, encrypted: never the plaintext
    expect(await readFile(path, 'utf8')).toBe(before)
    expect(await loadKey(path, 'old passphrase')).toEqual(KEY)
    await writeKeystore(path, next)
    expect(await readdir(sub)).toEqual(['k.json'])
    expect(await loadKey(path, 'new passphrase')).toEqual(KEY)
  })

  it('killed at random moments while rewriting, the keystore is always one whole version or the other', async () => {
    const sub = await mkdtemp(join(dir, 'kill-loop-'))
    const path = join(sub, 'k.json')
    const versions = await Promise.all([encryptKey(KEY, 'a', { kdf: LIGHT_SCRYPT }), encryptKey(KEY, 'b', { kdf: LIGHT_SCRYPT })])
    await writeKeystore(path, versions[0])
    const script = `
      const { writeKeystore } = await import(process.argv[1])
      const versions = JSON.parse(process.argv[3])
      for (let i = 0; ; i++) {
        await writeKeystore(process.argv[2], versions[i % 2])
        if (i === 0) process.stdout.write('ready\\n')
      }`
    for (let round = 0; round < 6; round++) {
      const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script, KEYSTORE_MODULE, path, JSON.stringify(versions)], { stdio: ['ignore', 'pipe', 'pipe'] })
      let stderr = ''
      child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
      const guard = setTimeout(() => child.kill('SIGKILL'), 10_000)
      child.stdout.once('data', () => setTimeout(() => child.kill('SIGKILL'), 5 + Math.random() * 40))
      const signal = await new Promise<NodeJS.Signals | null>(resolve => child.on('close', (_code, sig) => resolve(sig)))
      clearTimeout(guard)
      expect(signal, stderr).toBe('SIGKILL')
      expect(versions, `round ${round}`).toContainEqual(await readKeystore(path))
      expect((await readdir(sub)).filter(name => name !== 'k.json').length).toBeLessThanOrEqual(1)
    }
    await writeKeystore(path, versions[1])
    expect(await readdir(sub)).toEqual(['k.json'])
  }, 60_000)
})

describe('passphraseFrom', () => {
  const NAME = 'MICROGRID_PASSPHRASE_KEYSTORE_TEST'

  it('takes the environment variable first (MICROGRID_PASSPHRASE by default), without prompting', async () => {
    const saved = process.env.MICROGRID_PASSPHRASE
    const prompt = vi.fn(async () => 'from the prompt')
    try {
      process.env.MICROGRID_PASSPHRASE = 'from the default variable'
      expect(await passphraseFrom({ prompt })).toBe('from the default variable')
      process.env[NAME] = 'from my variable'
      expect(await passphraseFrom({ env: NAME, prompt, confirm: true })).toBe('from my variable')
      expect(prompt).not.toHaveBeenCalled()
    } finally {
      if (saved === undefined) delete process.env.MICROGRID_PASSPHRASE; else process.env.MICROGRID_PASSPHRASE = saved
      delete process.env[NAME]
    }
  })

  it('else asks the prompt (an empty variable counts as unset), twice when confirming', async () => {
    process.env[NAME] = ''
    try {
      const questions: string[] = []
      expect(await passphraseFrom({ env: NAME, prompt: async q => { questions.push(q); return 'typed' } })).toBe('typed')
      expect(questions).toEqual(['Passphrase: '])
      const answers = ['one', 'one']
      expect(await passphraseFrom({ env: NAME, question: 'New passphrase: ', confirm: true, prompt: async () => answers.shift()! })).toBe('one')
      const differ = ['one', 'two']
      expect((await errorOf(passphraseFrom({ env: NAME, confirm: true, prompt: async () => differ.shift()! }))).message).toBe('the two passphrases differ')
    } finally {
      delete process.env[NAME]
    }
  })

  it('with neither a variable nor a terminal, says how to give one', async () => {
    const tty = Object.getOwnPropertyDescriptor(process.stdin, 'isTTY')
    Object.defineProperty(process.stdin, 'isTTY', { value: undefined, configurable: true })
    try {
      const err = await errorOf(passphraseFrom({ env: NAME }))
      expect(err).toBeInstanceOf(KeystoreError)
      expect(err.message).toBe(`no passphrase: set ${NAME} or run in a terminal to be asked for it`)
      expect((await errorOf(passphraseFrom())).message).toMatch(/set MICROGRID_PASSPHRASE/)
    } finally {
      if (tty !== undefined) Object.defineProperty(process.stdin, 'isTTY', tty); else delete (process.stdin as { isTTY?: boolean }).isTTY
    }
  })

  it('promptHidden asks on its output and reads a line with echo off', async () => {
    const input = new PassThrough()
    const output = new PassThrough()
    let shown = ''
    output.setEncoding('utf8').on('data', (s: string) => { shown += s })
    const answer = promptHidden('Passphrase for keys/node.json: ', { input, output })
    input.write('s3cret wörds')
    input.write('\r')
    expect(await answer).toBe('s3cret wörds')
    expect(shown).toContain('Passphrase for keys/node.json: ')
    expect(shown).not.toContain('s3cret')
  })

  it('promptHidden rejects on Ctrl-C and at the end of input', async () => {
    const input = new PassThrough()
    const cancelled = promptHidden('Passphrase: ', { input, output: new PassThrough() })
    input.write('abc\x03')
    expect((await errorOf(cancelled)).message).toBe('no passphrase: the prompt was cancelled')
    const closed = new PassThrough()
    const ended = promptHidden('Passphrase: ', { input: closed, output: new PassThrough() })
    closed.end()
    expect(await errorOf(ended)).toBeInstanceOf(KeystoreError)
  })
})

describe('KeyRing (keys.ts)', () => {
  it('creates named keys as standard keystores and lists their accounts from keys.json, without a passphrase', async () => {
    const path = join(dir, 'ring-1')
    const ring = await KeyRing.open(path)
    expect(ring.list()).toEqual([])
    const node = await ring.create('node', 'node pw', { kdf: LIGHT_SCRYPT })
    const oracle = await ring.add('oracle', KEY, 'oracle pw', { kdf: LIGHT_SCRYPT })
    expect(oracle).toEqual({ name: 'oracle', file: 'oracle.json', account: accountId(publicKeyOf(KEY)), address: ethereumAddress(KEY), id: expect.any(String) })
    expect(node.account).toMatch(/^mg1/)
    const reopened = await KeyRing.open(path)
    expect(reopened.list()).toEqual([node, oracle])
    expect((await stat(path)).mode & 0o777).toBe(0o700)
    expect(JSON.parse(await readFile(join(path, KEY_INDEX), 'utf8'))).toMatchObject({ version: 1, keys: { node: { file: 'node.json', account: node.account } } })
    const standard = await readKeystore(join(path, 'oracle.json'))
    expect(standard.id).toBe(oracle.id)
    expect(await decryptKey(standard, 'oracle pw')).toEqual(KEY)
    expect(await reopened.unlock('oracle', 'oracle pw')).toEqual(KEY)
    const signer = await reopened.signer('node', 'node pw')
    expect(accountId(signer.publicKey)).toBe(node.account)
    const wrong = await errorOf(reopened.unlock('node', 'oracle pw'))
    expect(wrong).toBeInstanceOf(WrongPassphraseError)
    expect(wrong.message).toBe(`wrong passphrase for ${join(path, 'node.json')}`)
  })

  it('never replaces a key, refuses unsafe names, and refuses a keystore that is not the account its name says', async () => {
    const path = join(dir, 'ring-2')
    const ring = await KeyRing.open(path)
    const a = await ring.create('a', 'pw', { kdf: LIGHT_SCRYPT })
    await ring.create('b', 'pw', { kdf: LIGHT_SCRYPT })
    expect((await errorOf(ring.create('a', 'pw', { kdf: LIGHT_SCRYPT }))).message).toMatch(/key "a" already exists/)
    for (const name of ['../x', 'a/b', '', '.hidden', 'keys', 'x'.repeat(65)]) {
      expect((await errorOf(ring.create(name, 'pw', { kdf: LIGHT_SCRYPT }))).message, name).toMatch(/^key name: expected/)
    }
    await writeFile(join(path, 'a.json'), await readFile(join(path, 'b.json')))
    const swapped = await errorOf(ring.unlock('a', 'pw'))
    expect(swapped.message).toMatch(new RegExp(`holds the key of mg1\\w+, but keys.json says "a" is ${a.account}`))
  })

  it('after a crash between the keystore and the index, the keystore is not overwritten and unlocking indexes it', async () => {
    const path = join(dir, 'ring-3')
    const first = await KeyRing.open(path)
    const entry = await first.add('node', KEY, 'pw', { kdf: LIGHT_SCRYPT })
    await rm(join(path, KEY_INDEX)) // as if the process died before writing keys.json
    const ring = await KeyRing.open(path)
    expect(ring.list()).toEqual([])
    expect((await errorOf(ring.create('node', 'other', { kdf: LIGHT_SCRYPT }))).message).toMatch(/node\.json already exists but is not in keys\.json/)
    expect(await ring.unlock('node', 'pw')).toEqual(KEY)
    expect(ring.list()).toEqual([entry])
    expect((await KeyRing.open(path)).list()).toEqual([entry])
  })

  it('a corrupted keys.json is a KeystoreError naming the file', async () => {
    const path = join(dir, 'ring-4')
    await KeyRing.open(path).then(async ring => await ring.create('n', 'pw', { kdf: LIGHT_SCRYPT }))
    const text = await readFile(join(path, KEY_INDEX), 'utf8')
    await writeFile(join(path, KEY_INDEX), text.slice(0, 20))
    expect((await errorOf(KeyRing.open(path))).message).toMatch(/keys\.json: not valid JSON, truncated or corrupted/)
    await writeFile(join(path, KEY_INDEX), '{"version":2}')
    expect((await errorOf(KeyRing.open(path))).message).toMatch(/keys\.json: expected \{ "version": 1/)
  })
})
