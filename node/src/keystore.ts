/**
 * The node's keys at rest: Web3 Secret Storage v3, the JSON keystore that Ethereum wallets write
 * (geth, ethers, ethereumjs, MyEtherWallet, ...). Our keys are secp256k1 secret keys like Ethereum's,
 * so a keystore written here opens in those tools and theirs open here; the published test vectors
 * prove it (test/vectors/README.md).
 *
 *   derivedKey = scrypt(passphrase, salt, n, r, p, dklen)      (or PBKDF2-HMAC-SHA256, read only by default)
 *   ciphertext = AES-128-CTR(key = derivedKey[0..16], iv, secretKey)
 *   mac        = keccak-256(derivedKey[16..32] ‖ ciphertext)
 *
 * A secret key only ever exists in memory: files hold the ciphertext, written atomically (a temporary
 * file, fsync, rename, fsync of the directory), so a crash at any point leaves the old keystore or the
 * new one, never a mix, and never loses the old one.
 */
import { createCipheriv, createDecipheriv, createECDH, pbkdf2, randomBytes, randomUUID, scrypt, timingSafeEqual } from 'node:crypto'
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { scryptAsync as nobleScrypt } from '@noble/hashes/scrypt.js'

/** Anything wrong with a keystore or its file: the message names the file and the field. */
export class KeystoreError extends Error {
  override readonly name: string = 'KeystoreError'
  /** The keystore file, when the error concerns one. */
  readonly file: string | undefined
  /** The JSON field at fault (`crypto.kdfparams.salt`), when there is one. */
  readonly field: string | undefined

  constructor (message: string, options: { file?: string, field?: string, cause?: unknown } = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined)
    this.file = options.file
    this.field = options.field
  }
}

/** The MAC did not match: the passphrase is wrong (or the ciphertext was altered, which no one can tell apart). */
export class WrongPassphraseError extends KeystoreError {
  override readonly name: string = 'WrongPassphraseError'
}

/** scrypt's cost parameters: CPU/memory cost `n` (a power of 2), block size `r`, parallelism `p`. */
export interface KdfParams { n: number, r: number, p: number }

/** PBKDF2-HMAC-SHA256's iteration count: the standard's other KDF, read always, written only when asked. */
export interface Pbkdf2Params { c: number }

/** The standard's default, as geth writes it: n = 2^18, r = 8, p = 1 (256 MiB, about 1.2 s on an x86 core). */
export const STANDARD_SCRYPT: KdfParams = Object.freeze({ n: 2 ** 18, r: 8, p: 1 })

/**
 * For a Raspberry Pi and for tests: n = 2^14, r = 8, p = 1 (16 MiB, about 75 ms on an x86 core; 16 times
 * cheaper than the standard, so an estimated fraction of a second on a Pi 4, not measured there).
 */
export const LIGHT_SCRYPT: KdfParams = Object.freeze({ n: 2 ** 14, r: 8, p: 1 })

/** The most memory a keystore's scrypt may ask for (1 GiB): a file asking for more is refused before any work. */
export const MAX_SCRYPT_MEMORY = 2 ** 30
/** The most scrypt work a keystore may ask for, as n·r·p: 2^24, 8 times the standard's (about 10 s). */
export const MAX_SCRYPT_WORK = 2 ** 24
/** The most PBKDF2 iterations a keystore may ask for: 2^24, 64 times the standard vector's. */
export const MAX_PBKDF2_ITERATIONS = 2 ** 24

/** The variable `passphraseFrom` reads by default. */
export const PASSPHRASE_ENV = 'MICROGRID_PASSPHRASE'

/** `crypto.kdfparams` for scrypt: derived key length (32), cost parameters, salt as hex. */
export interface ScryptKdfJson { dklen: number, n: number, r: number, p: number, salt: string }
/** `crypto.kdfparams` for PBKDF2: iterations, derived key length (32), the PRF (only HMAC-SHA256), salt as hex. */
export interface Pbkdf2KdfJson { c: number, dklen: number, prf: 'hmac-sha256', salt: string }

/** The `crypto` section. Every byte string is lower-case hex without `0x`. */
export type KeystoreCrypto = {
  cipher: 'aes-128-ctr'
  cipherparams: { iv: string }
  ciphertext: string
  mac: string
} & ({ kdf: 'scrypt', kdfparams: ScryptKdfJson } | { kdf: 'pbkdf2', kdfparams: Pbkdf2KdfJson })

/** A Web3 Secret Storage v3 keystore, exactly the standard's fields. */
export interface KeystoreJson {
  version: 3
  /** A UUID naming the key (not secret). */
  id: string
  /** The key's Ethereum address (40 hex digits, no `0x`): optional in the standard, written by us as geth does. */
  address?: string
  crypto: KeystoreCrypto
}

/** encryptKey's options: all optional; give salt, iv and uuid only to reproduce a known keystore. */
export interface EncryptOptions {
  /** scrypt's parameters (default STANDARD_SCRYPT), or `{ c }` for PBKDF2 (to reproduce vectors or for tools without scrypt). */
  kdf?: KdfParams | Pbkdf2Params
  /** 32 random bytes by default; at least 16. */
  salt?: Uint8Array
  /** 16 random bytes by default. */
  iv?: Uint8Array
  /** A random (v4) UUID by default. */
  uuid?: string
}

// ---------------------------------------------------------------------------------------------------
// Bytes and validation

const HEX = /^(?:[0-9a-fA-F]{2})*$/
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/
/** The order of secp256k1's group: a secret key is an integer in [1, N - 1]. */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')

function bigEndian (bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt('0x' + hex(bytes))
}

function show (value: unknown): string {
  if (value === undefined) return 'nothing'
  if (value === null) return 'null'
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`
}

/** Reads a keystore's fields, or says which one is wrong. `where` prefixes every message (a file, or "keystore"). */
class FieldReader {
  private readonly where: string
  private readonly file: string | undefined

  constructor (where: string, file: string | undefined) {
    this.where = where
    this.file = file
  }

  fail (field: string, problem: string): never {
    throw new KeystoreError(`${this.where}: ${field}: ${problem}`, { field, ...(this.file !== undefined ? { file: this.file } : {}) })
  }

  object (value: unknown, field: string): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(field, `expected an object, got ${show(value)}`)
    return value as Record<string, unknown>
  }

  hex (value: unknown, field: string, length?: { min?: number, max?: number, exactly?: number }): Buffer {
    if (typeof value !== 'string') this.fail(field, `expected hex text, got ${show(value)}`)
    if (!HEX.test(value)) this.fail(field, `expected hex text (an even number of 0-9a-f digits), got ${show(value)}`)
    const bytes = Buffer.from(value, 'hex')
    if (length?.exactly !== undefined && bytes.length !== length.exactly) this.fail(field, `expected ${length.exactly} bytes, got ${bytes.length}`)
    if (length?.min !== undefined && bytes.length < length.min) this.fail(field, `expected at least ${length.min} bytes, got ${bytes.length}`)
    if (length?.max !== undefined && bytes.length > length.max) this.fail(field, `expected at most ${length.max} bytes, got ${bytes.length}`)
    return bytes
  }

  integer (value: unknown, field: string, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) this.fail(field, `expected an integer, got ${show(value)}`)
    if (value < min || value > max) this.fail(field, `expected ${min} to ${max}, got ${value}`)
    return value
  }
}

/** Checks scrypt's parameters (`n` a power of two, bounded memory and work); returns the memory they take. */
function checkScrypt (read: FieldReader, prefix: string, { n, r, p }: KdfParams): number {
  read.integer(n, `${prefix}n`, 2, 2 ** 32)
  if (!Number.isInteger(Math.log2(n))) read.fail(`${prefix}n`, `expected a power of 2, got ${n}`)
  read.integer(r, `${prefix}r`, 1, 1024)
  read.integer(p, `${prefix}p`, 1, 1024)
  const memory = scryptMemory({ n, r, p })
  if (memory > MAX_SCRYPT_MEMORY) {
    read.fail(`${prefix}n`, `n = ${n} with r = ${r} needs ${Math.ceil(memory / 2 ** 20)} MiB, more than the ${MAX_SCRYPT_MEMORY / 2 ** 20} MiB allowed`)
  }
  if (n * r * p > MAX_SCRYPT_WORK) read.fail(`${prefix}p`, `n·r·p = ${n * r * p} is more work than the ${MAX_SCRYPT_WORK} allowed`)
  return memory
}

/** Bytes scrypt allocates, as OpenSSL counts them: the table (128·r·(n + 2)) plus the p blocks (128·r·p). */
function scryptMemory ({ n, r, p }: KdfParams): number {
  return 128 * r * (n + p + 2)
}

/**
 * Validates a parsed keystore (any value) and returns a clean copy with only the standard's fields.
 * Reads the capitalised `Crypto` that some old wallets wrote. Throws a KeystoreError naming the field.
 */
export function parseKeystore (json: unknown, options: { file?: string } = {}): KeystoreJson {
  const read: FieldReader = new FieldReader(options.file ?? 'keystore', options.file)
  const top = read.object(json, 'keystore')
  if (top.version !== 3) read.fail('version', `expected 3 (Web3 Secret Storage v3), got ${show(top.version)}`)
  if (typeof top.id !== 'string' || top.id.length === 0) read.fail('id', `expected a UUID, got ${show(top.id)}`)
  let address: string | undefined
  if (top.address !== undefined && top.address !== null && top.address !== '') {
    if (typeof top.address !== 'string') read.fail('address', `expected 40 hex digits, got ${show(top.address)}`)
    address = top.address.toLowerCase().replace(/^0x/, '')
    read.hex(address, 'address', { exactly: 20 })
  }
  const crypto = read.object(top.crypto ?? top.Crypto, 'crypto')
  if (crypto.cipher !== 'aes-128-ctr') read.fail('crypto.cipher', `expected "aes-128-ctr", got ${show(crypto.cipher)}`)
  const cipherparams = read.object(crypto.cipherparams, 'crypto.cipherparams')
  const iv = read.hex(cipherparams.iv, 'crypto.cipherparams.iv', { exactly: 16 })
  // A secp256k1 key is 32 bytes; geth before 1.6 wrote keys with leading zero bytes dropped (30, 31 bytes).
  const ciphertext = read.hex(crypto.ciphertext, 'crypto.ciphertext', { min: 1, max: 32 })
  const mac = read.hex(crypto.mac, 'crypto.mac', { exactly: 32 })
  const params = read.object(crypto.kdfparams, 'crypto.kdfparams')
  const salt = read.hex(params.salt, 'crypto.kdfparams.salt', { max: 1024 }).toString('hex')
  const dklen = read.integer(params.dklen, 'crypto.kdfparams.dklen', 32, 1024)
  const common = { cipher: 'aes-128-ctr' as const, cipherparams: { iv: iv.toString('hex') }, ciphertext: ciphertext.toString('hex'), mac: mac.toString('hex') }
  let checked: KeystoreCrypto
  if (crypto.kdf === 'scrypt') {
    const { n, r, p } = params as { n: number, r: number, p: number }
    checkScrypt(read, 'crypto.kdfparams.', { n, r, p })
    checked = { ...common, kdf: 'scrypt', kdfparams: { dklen, n, r, p, salt } }
  } else if (crypto.kdf === 'pbkdf2') {
    const c = read.integer(params.c, 'crypto.kdfparams.c', 1, MAX_PBKDF2_ITERATIONS)
    if (params.prf !== 'hmac-sha256') read.fail('crypto.kdfparams.prf', `expected "hmac-sha256", got ${show(params.prf)}`)
    checked = { ...common, kdf: 'pbkdf2', kdfparams: { c, dklen, prf: 'hmac-sha256', salt } }
  } else {
    read.fail('crypto.kdf', `expected "scrypt" or "pbkdf2", got ${show(crypto.kdf)}`)
  }
  return { version: 3, id: top.id, ...(address !== undefined ? { address } : {}), crypto: checked }
}

// ---------------------------------------------------------------------------------------------------
// Key derivation, encryption

/**
 * scrypt through node:crypto (OpenSSL, in the thread pool). OpenSSL refuses n >= 2^(16·r), a bound from
 * RFC 7914 that its errata withdraw and that geth, ethers and noble ignore: the standard's own scrypt
 * vector (r = 1, n = 2^18) is such a file, so those are derived with @noble/hashes instead (pure JS,
 * about 2.5 times slower, yielding to the event loop as it goes).
 */
async function deriveScrypt (passphrase: Buffer, salt: Buffer, params: KdfParams, dklen: number): Promise<Buffer> {
  const { n, r, p } = params
  if (r < 4 && n >= 2 ** (16 * r)) {
    const key = await nobleScrypt(passphrase, salt, { N: n, r, p, dkLen: dklen, maxmem: scryptMemory(params) + 2 ** 20 })
    try {
      return Buffer.from(key)
    } finally {
      key.fill(0)
    }
  }
  return await new Promise<Buffer>((resolve, reject) => {
    // maxmem: what OpenSSL allocates, 128·r·(n + p + 2) bytes, plus a margin; Node's default (32 MiB) is too small for n = 2^18.
    scrypt(passphrase, salt, dklen, { N: n, r, p, maxmem: scryptMemory(params) + 2 ** 20 }, (err, key) => { if (err !== null) reject(err); else resolve(key) })
  })
}

async function deriveKey (passphrase: string, crypto: KeystoreCrypto): Promise<Buffer> {
  const pass = Buffer.from(passphrase, 'utf8')
  const salt = Buffer.from(crypto.kdfparams.salt, 'hex')
  try {
    if (crypto.kdf === 'scrypt') return await deriveScrypt(pass, salt, crypto.kdfparams, crypto.kdfparams.dklen)
    const { c, dklen } = crypto.kdfparams
    return await new Promise<Buffer>((resolve, reject) => {
      pbkdf2(pass, salt, c, dklen, 'sha256', (err, key) => { if (err !== null) reject(err); else resolve(key) })
    })
  } catch (err) {
    throw new KeystoreError(`key derivation (${crypto.kdf}) failed: ${(err as Error).message}`, { field: 'crypto.kdfparams', cause: err })
  } finally {
    pass.fill(0)
  }
}

function macOf (derivedKey: Buffer, ciphertext: Buffer): Buffer {
  return Buffer.from(keccak_256(Buffer.concat([derivedKey.subarray(16, 32), ciphertext])))
}

function aes128ctr (derivedKey: Buffer, iv: Buffer, data: Buffer, decrypt: boolean): Buffer {
  const key = derivedKey.subarray(0, 16)
  const cipher = decrypt ? createDecipheriv('aes-128-ctr', key, iv) : createCipheriv('aes-128-ctr', key, iv)
  return Buffer.concat([cipher.update(data), cipher.final()])
}

/** A 32-byte secp256k1 secret key in [1, N - 1], or a KeystoreError. */
function checkSecretKey (secretKey: Uint8Array, what: string): void {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) {
    throw new KeystoreError(`${what}: expected a 32-byte secp256k1 secret key, got ${secretKey instanceof Uint8Array ? `${secretKey.length} bytes` : show(secretKey)}`)
  }
  const d = bigEndian(secretKey)
  if (d === 0n || d >= SECP256K1_N) throw new KeystoreError(`${what}: not a secp256k1 secret key (zero, or not below the group order)`)
}

/**
 * The Ethereum address of a secp256k1 secret key: the last 20 bytes of keccak-256 of the uncompressed
 * public key (without its 0x04 prefix), as 40 lower-case hex digits. Computed with node:crypto's ECDH.
 */
export function ethereumAddress (secretKey: Uint8Array): string {
  checkSecretKey(secretKey, 'ethereumAddress')
  const ecdh = createECDH('secp256k1')
  ecdh.setPrivateKey(secretKey)
  return hex(keccak_256(ecdh.getPublicKey().subarray(1)).subarray(12))
}

/**
 * Encrypts a secp256k1 secret key with a passphrase into a Web3 Secret Storage v3 keystore
 * (scrypt with STANDARD_SCRYPT unless `kdf` says otherwise; aes-128-ctr; keccak-256 MAC), with the
 * key's Ethereum address. Salt, iv and uuid are random unless given (given, they reproduce a vector).
 */
export async function encryptKey (secretKey: Uint8Array, passphrase: string, options: EncryptOptions = {}): Promise<KeystoreJson> {
  checkSecretKey(secretKey, 'encryptKey')
  if (typeof passphrase !== 'string') throw new KeystoreError(`encryptKey: expected the passphrase as text, got ${show(passphrase)}`)
  const read: FieldReader = new FieldReader('encryptKey', undefined)
  const kdf = options.kdf ?? STANDARD_SCRYPT
  const salt = Buffer.from(options.salt ?? randomBytes(32))
  if (salt.length < 16 || salt.length > 1024) read.fail('salt', `expected 16 to 1024 bytes, got ${salt.length}`)
  const iv = Buffer.from(options.iv ?? randomBytes(16))
  if (iv.length !== 16) read.fail('iv', `expected 16 bytes, got ${iv.length}`)
  const id = options.uuid ?? randomUUID()
  if (typeof id !== 'string' || !UUID.test(id)) read.fail('uuid', `expected a UUID (8-4-4-4-12 hex digits), got ${show(id)}`)
  let draft: KeystoreCrypto
  const cipher = { cipher: 'aes-128-ctr' as const, cipherparams: { iv: iv.toString('hex') }, ciphertext: '' }
  if ('c' in kdf) {
    read.integer(kdf.c, 'kdf.c', 1, MAX_PBKDF2_ITERATIONS)
    draft = { ...cipher, kdf: 'pbkdf2', kdfparams: { c: kdf.c, dklen: 32, prf: 'hmac-sha256', salt: salt.toString('hex') }, mac: '' }
  } else {
    checkScrypt(read, 'kdf.', kdf)
    draft = { ...cipher, kdf: 'scrypt', kdfparams: { dklen: 32, n: kdf.n, r: kdf.r, p: kdf.p, salt: salt.toString('hex') }, mac: '' }
  }
  const derived = await deriveKey(passphrase, draft)
  try {
    const plain = Buffer.from(secretKey)
    const ciphertext = aes128ctr(derived, iv, plain, false)
    plain.fill(0)
    draft.ciphertext = ciphertext.toString('hex')
    draft.mac = macOf(derived, ciphertext).toString('hex')
    return { version: 3, id: id.toLowerCase(), address: ethereumAddress(secretKey), crypto: draft }
  } finally {
    derived.fill(0)
  }
}

/**
 * Decrypts a keystore (a parsed object, or its JSON text) with a passphrase and returns the 32-byte
 * secret key. Throws WrongPassphraseError ("wrong passphrase for <file>") when the MAC does not match,
 * and KeystoreError naming the field when the keystore is malformed, or when its `address` is not the
 * decrypted key's (a file edited or swapped). Keys that old geth wrote short (leading zero bytes
 * dropped) come back left-padded to 32 bytes.
 */
export async function decryptKey (json: unknown, passphrase: string, options: { file?: string } = {}): Promise<Uint8Array> {
  const where = options.file ?? 'keystore'
  const fileOption = options.file !== undefined ? { file: options.file } : {}
  if (typeof json === 'string') {
    try {
      json = JSON.parse(json)
    } catch (err) {
      throw new KeystoreError(`${where}: not valid JSON (${(err as Error).message})`, { ...fileOption, cause: err })
    }
  }
  const keystore = parseKeystore(json, options)
  if (typeof passphrase !== 'string') throw new KeystoreError(`${where}: expected the passphrase as text, got ${show(passphrase)}`, fileOption)
  const { crypto } = keystore
  const ciphertext = Buffer.from(crypto.ciphertext, 'hex')
  const derived = await deriveKey(passphrase, crypto)
  let plain: Buffer
  try {
    if (!timingSafeEqual(macOf(derived, ciphertext), Buffer.from(crypto.mac, 'hex'))) {
      throw new WrongPassphraseError(`wrong passphrase for ${options.file ?? `keystore ${keystore.id}`}`, fileOption)
    }
    plain = aes128ctr(derived, Buffer.from(crypto.cipherparams.iv, 'hex'), ciphertext, true)
  } finally {
    derived.fill(0)
  }
  const secretKey = new Uint8Array(32)
  secretKey.set(plain, 32 - plain.length)
  plain.fill(0)
  try {
    checkSecretKey(secretKey, where)
  } catch (err) {
    secretKey.fill(0)
    throw new KeystoreError(`${where}: the decrypted key is not a secp256k1 secret key`, { ...fileOption, field: 'crypto.ciphertext', cause: err })
  }
  if (keystore.address !== undefined && keystore.address !== ethereumAddress(secretKey)) {
    secretKey.fill(0)
    throw new KeystoreError(`${where}: address: ${keystore.address} is not the address of the key this file holds (edited or swapped?)`, { ...fileOption, field: 'address' })
  }
  return secretKey
}

// ---------------------------------------------------------------------------------------------------
// Files

const TMP_SUFFIX = '.tmp'
/** Temporary files of writes in flight in this process: the next write's clean-up leaves them alone. */
const inFlight = new Set<string>()

const tmpPrefix = (path: string): string => `.${basename(path)}.`

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Removes temporary files that earlier writes of `path` left behind (their process died before the rename). */
async function removeStaleTemps (path: string): Promise<void> {
  const dir = dirname(path)
  const prefix = tmpPrefix(path)
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith(TMP_SUFFIX)) continue
    const pid = Number(name.slice(prefix.length).split('.')[0])
    const tmp = join(dir, name)
    if (inFlight.has(tmp) || (Number.isSafeInteger(pid) && pid !== process.pid && isAlive(pid))) continue
    await unlink(tmp).catch(() => undefined)
  }
}

async function fsyncDir (dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/**
 * Writes `data` to `path` atomically and durably, readable by its owner only (0600): a temporary file
 * beside it (`.<name>.<pid>.<random>.tmp`, created exclusively), fsync, rename over `path`, fsync of the
 * directory. A crash at any point leaves the old file or the new one; a temporary file left by a crashed
 * write is removed by the next write to the same path. Creates the directory (0700) when missing.
 */
export async function writeFileAtomic (path: string, data: string | Uint8Array): Promise<void> {
  const dir = dirname(path)
  const tmp = join(dir, `${tmpPrefix(path)}${process.pid}.${randomBytes(6).toString('hex')}${TMP_SUFFIX}`)
  inFlight.add(tmp)
  let renamed = false
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    await removeStaleTemps(path)
    const handle = await open(tmp, 'wx', 0o600)
    try {
      await handle.writeFile(data)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(tmp, path)
    renamed = true
    await fsyncDir(dir)
  } catch (err) {
    if (err instanceof KeystoreError) throw err
    const code = (err as NodeJS.ErrnoException).code
    throw new KeystoreError(`cannot write ${path}: ${code ?? (err as Error).message}${renamed ? ' (written, but the directory could not be synced)' : ' (the old file, if any, is unchanged)'}`, { file: path, cause: err })
  } finally {
    inFlight.delete(tmp)
    if (!renamed) await unlink(tmp).catch(() => undefined)
  }
}

/**
 * Writes a keystore to `path` atomically (see writeFileAtomic), after checking it is a well-formed
 * keystore: a temporary file (0600), fsync, rename, fsync of the directory. An interrupted write never
 * loses the old keystore. Only the encrypted JSON is written; no plaintext ever reaches the disk.
 */
export async function writeKeystore (path: string, json: KeystoreJson): Promise<void> {
  const checked = parseKeystore(json, { file: path })
  await writeFileAtomic(path, JSON.stringify(checked))
}

/**
 * Reads and checks a keystore file. KeystoreError when it is missing ("no keystore at <path>"),
 * empty, not JSON (truncated?), or malformed (naming the field). Temporary files beside it are ignored.
 */
export async function readKeystore (path: string): Promise<KeystoreJson> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new KeystoreError(`no keystore at ${path}`, { file: path, cause: err })
    throw new KeystoreError(`cannot read keystore ${path}: ${code ?? (err as Error).message}`, { file: path, cause: err })
  }
  if (text.trim() === '') throw new KeystoreError(`${path}: the file is empty`, { file: path })
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new KeystoreError(`${path}: not valid JSON, truncated or corrupted (${(err as Error).message})`, { file: path, cause: err })
  }
  return parseKeystore(json, { file: path })
}

/** Reads the keystore at `path` and decrypts it: errors name the file ("wrong passphrase for <path>"). */
export async function loadKey (path: string, passphrase: string): Promise<Uint8Array> {
  return await decryptKey(await readKeystore(path), passphrase, { file: path })
}

/** Encrypts `secretKey` and writes the keystore to `path` atomically; returns what was written. */
export async function saveKey (path: string, secretKey: Uint8Array, passphrase: string, options: EncryptOptions = {}): Promise<KeystoreJson> {
  const json = await encryptKey(secretKey, passphrase, options)
  await writeKeystore(path, json)
  return json
}

// ---------------------------------------------------------------------------------------------------
// Passphrases

/** Where passphraseFrom looks for the passphrase, and how it asks. */
export interface PassphraseOptions {
  /** The environment variable to read first (default MICROGRID_PASSPHRASE); empty counts as unset. */
  env?: string
  /** Asks for the passphrase when the variable is unset; by default `promptHidden` when stdin is a TTY. */
  prompt?: (question: string) => Promise<string>
  /** What to ask (default "Passphrase: "). */
  question?: string
  /** Ask twice and require the same answer (for a new keystore). Not applied to the environment variable. */
  confirm?: boolean
}

/**
 * The passphrase: from the environment variable if set, else asked interactively (`prompt`, or a prompt
 * on the terminal with echo off when stdin is a TTY). KeystoreError when neither is possible, saying how
 * to give one, or when a prompt's two answers differ.
 */
export async function passphraseFrom (options: PassphraseOptions = {}): Promise<string> {
  const name = options.env ?? PASSPHRASE_ENV
  const fromEnv = process.env[name]
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv
  let prompt = options.prompt
  if (prompt === undefined && process.stdin.isTTY === true) prompt = async question => await promptHidden(question)
  if (prompt === undefined) {
    throw new KeystoreError(`no passphrase: set ${name} or run in a terminal to be asked for it`)
  }
  const question = options.question ?? 'Passphrase: '
  const answer = await prompt(question)
  if (typeof answer !== 'string') throw new KeystoreError(`no passphrase: the prompt gave ${show(answer)}`)
  if (options.confirm === true && await prompt('Repeat the passphrase: ') !== answer) {
    throw new KeystoreError('the two passphrases differ')
  }
  return answer
}

/**
 * Asks `question` on `output` (stderr by default, so stdout stays for results) and reads one line from
 * `input` (stdin) with echo off. Rejects with a KeystoreError on Ctrl-C or end of input.
 */
export async function promptHidden (question: string, streams: { input?: NodeJS.ReadableStream, output?: NodeJS.WritableStream } = {}): Promise<string> {
  const output = streams.output ?? process.stderr
  let muted = false
  // Everything readline echoes goes through here: the question passes, what is typed does not.
  const sink = new Writable({
    write (chunk: Buffer | string, _encoding, callback) {
      if (!muted) output.write(chunk)
      callback()
    }
  })
  const rl = createInterface({ input: streams.input ?? process.stdin, output: sink, terminal: true })
  return await new Promise<string>((resolve, reject) => {
    let answered = false
    rl.on('SIGINT', () => { rl.close() })
    rl.on('close', () => {
      output.write('\n')
      if (!answered) reject(new KeystoreError('no passphrase: the prompt was cancelled'))
    })
    rl.question(question, answer => {
      answered = true
      resolve(answer)
      rl.close()
    })
    muted = true
  })
}
