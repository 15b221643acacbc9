/**
 * A small key-ring on top of the keystore: a directory holding one standard keystore per key
 * (`<name>.json`, Web3 Secret Storage v3, readable by Ethereum tools) and an index, `keys.json`, that
 * names each key's account so the node can list its accounts without a passphrase. The keystores stay
 * exactly standard: our account id lives only in the index.
 *
 *   keys/
 *     keys.json        { "version": 1, "keys": { "node": { "file": "node.json", "account": "mg1…", "address": "…", "id": "…" } } }
 *     node.json        the encrypted key
 */
import { access, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { accountId, generateKeyPair, keySigner, publicKeyOf, type AccountId, type OpSigner } from '@microgrid/protocol'
import { KeystoreError, decryptKey, encryptKey, ethereumAddress, readKeystore, writeFileAtomic, writeKeystore, type EncryptOptions } from './keystore.ts'

/** The index file's name inside a key-ring directory. */
export const KEY_INDEX = 'keys.json'

/** What the index says about one key (nothing secret). */
export interface KeyEntry {
  /** The key's name in the ring (`node`, `registrar`, `oracle`, ...). */
  name: string
  /** The keystore's file name inside the directory. */
  file: string
  /** The microgrid account id (bech32 of the compressed public key). */
  account: AccountId
  /** The Ethereum address the keystore records. */
  address: string
  /** The keystore's UUID. */
  id: string
}

interface IndexFile { version: 1, keys: Record<string, Omit<KeyEntry, 'name'>> }

const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/

function checkName (name: string): void {
  if (typeof name !== 'string' || !NAME.test(name) || name === 'keys') {
    throw new KeystoreError(`key name: expected 1 to 64 letters, digits, "-" or "_" (and not "keys"), got ${JSON.stringify(name)}`)
  }
}

async function exists (path: string): Promise<boolean> {
  return await access(path).then(() => true, () => false)
}

/** A directory of named, encrypted keys with an index of their accounts. */
export class KeyRing {
  /** The directory. */
  readonly dir: string
  private readonly entries: Map<string, KeyEntry>

  private constructor (dir: string, entries: Map<string, KeyEntry>) {
    this.dir = dir
    this.entries = entries
  }

  /** Opens the key-ring in `dir` (nothing needs to exist yet: the first key creates it, mode 0700). */
  static async open (dir: string): Promise<KeyRing> {
    const path = join(dir, KEY_INDEX)
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new KeyRing(dir, new Map())
      throw new KeystoreError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file: path, cause: err })
    }
    let index: IndexFile
    try {
      index = JSON.parse(text) as IndexFile
    } catch (err) {
      throw new KeystoreError(`${path}: not valid JSON, truncated or corrupted (${(err as Error).message})`, { file: path, cause: err })
    }
    if (typeof index !== 'object' || index === null || index.version !== 1 || typeof index.keys !== 'object' || index.keys === null) {
      throw new KeystoreError(`${path}: expected { "version": 1, "keys": { … } }`, { file: path })
    }
    const entries = new Map<string, KeyEntry>()
    for (const [name, entry] of Object.entries(index.keys)) {
      if (!NAME.test(name) || typeof entry?.file !== 'string' || typeof entry.account !== 'string' || entry.file.includes('/')) {
        throw new KeystoreError(`${path}: keys.${name}: expected { file, account, address, id }`, { file: path, field: `keys.${name}` })
      }
      entries.set(name, { name, file: entry.file, account: entry.account, address: entry.address, id: entry.id })
    }
    return new KeyRing(dir, entries)
  }

  /** Every key in the index, by name. */
  list (): KeyEntry[] {
    return [...this.entries.values()].sort((a, b) => a.name.localeCompare(b.name))
  }

  /** One key's entry, or undefined. */
  get (name: string): KeyEntry | undefined {
    return this.entries.get(name)
  }

  /** The keystore file of `name` (whether or not it exists). */
  path (name: string): string {
    checkName(name)
    return join(this.dir, this.entries.get(name)?.file ?? `${name}.json`)
  }

  /** Makes a new secp256k1 key, encrypts it under `passphrase` and records it as `name`. */
  async create (name: string, passphrase: string, options: EncryptOptions = {}): Promise<KeyEntry> {
    const { secretKey } = generateKeyPair()
    try {
      return await this.add(name, secretKey, passphrase, options)
    } finally {
      secretKey.fill(0)
    }
  }

  /**
   * Records an existing secret key as `name`, encrypted under `passphrase`. Never replaces a key: a name
   * already in the index, or a keystore file already there, is refused.
   */
  async add (name: string, secretKey: Uint8Array, passphrase: string, options: EncryptOptions = {}): Promise<KeyEntry> {
    checkName(name)
    const file = `${name}.json`
    if (this.entries.has(name)) throw new KeystoreError(`key "${name}" already exists in ${this.dir}`)
    if (await exists(join(this.dir, file))) {
      throw new KeystoreError(`${join(this.dir, file)} already exists but is not in ${KEY_INDEX} (an interrupted add?): unlock it to index it, or move it away`, { file: join(this.dir, file) })
    }
    const json = await encryptKey(secretKey, passphrase, options)
    // The keystore first, then the index: a crash in between leaves a keystore that `unlock` indexes.
    await writeKeystore(join(this.dir, file), json)
    const entry: KeyEntry = { name, file, account: accountId(publicKeyOf(secretKey)), address: json.address ?? '', id: json.id }
    this.entries.set(name, entry)
    await this.saveIndex()
    return entry
  }

  /**
   * Decrypts the key `name`. WrongPassphraseError names its file. A keystore present but missing from
   * the index (a crash between the two writes) is indexed now; a keystore whose key is not the account
   * the index names is refused.
   */
  async unlock (name: string, passphrase: string): Promise<Uint8Array> {
    const path = this.path(name)
    const json = await readKeystore(path)
    const secretKey = await decryptKey(json, passphrase, { file: path })
    const account = accountId(publicKeyOf(secretKey))
    const entry = this.entries.get(name)
    if (entry === undefined) {
      this.entries.set(name, { name, file: `${name}.json`, account, address: ethereumAddress(secretKey), id: json.id })
      await this.saveIndex()
    } else if (entry.account !== account) {
      secretKey.fill(0)
      throw new KeystoreError(`${path} holds the key of ${account}, but ${KEY_INDEX} says "${name}" is ${entry.account}`, { file: path })
    }
    return secretKey
  }

  /** A signer for ops with the key `name` (see unlock). */
  async signer (name: string, passphrase: string): Promise<OpSigner> {
    return keySigner(await this.unlock(name, passphrase))
  }

  private async saveIndex (): Promise<void> {
    const keys: IndexFile['keys'] = {}
    for (const { name, ...rest } of this.list()) keys[name] = rest
    await writeFileAtomic(join(this.dir, KEY_INDEX), JSON.stringify({ version: 1, keys } satisfies IndexFile, null, 2) + '\n')
  }
}
