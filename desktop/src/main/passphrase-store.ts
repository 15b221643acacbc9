/**
 * The passphrase of the node's keys, kept in the OS keychain so the app starts without asking: the
 * file holds it encrypted by a cipher whose key the keychain keeps (Electron's safeStorage: Keychain on
 * macOS, DPAPI on Windows, the Secret Service or KWallet on Linux). Where there is no keychain the
 * store says so and keeps nothing: the user types the passphrase at each start.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'

/** What the store needs of Electron's safeStorage. */
export interface SecretCipher {
  /** False when secrets would be kept in the clear (e.g. Linux without a keyring: safeStorage's 'basic_text'). */
  isAvailable: () => Promise<boolean>
  encrypt: (text: string) => Promise<Uint8Array>
  decrypt: (data: Uint8Array) => Promise<string>
}

export interface PassphraseStore {
  /** Whether a passphrase can be kept here at all. */
  available: () => Promise<boolean>
  /** The kept passphrase, or undefined (none kept, no keychain, or the keychain cannot decrypt it). */
  load: () => Promise<string | undefined>
  save: (passphrase: string) => Promise<void>
  forget: () => Promise<void>
}

export class PassphraseStoreError extends Error {
  override readonly name = 'PassphraseStoreError'
}

/** A store in `file` (written atomically, 0600), encrypted by `cipher`. */
export function keychainPassphraseStore (file: string, cipher: SecretCipher): PassphraseStore {
  return {
    available: async () => await cipher.isAvailable(),
    load: async () => {
      if (!await cipher.isAvailable()) return undefined
      let data: Uint8Array
      try {
        data = await readFile(file)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
        throw err
      }
      try {
        const text = await cipher.decrypt(data)
        return text === '' ? undefined : text
      } catch {
        // Another user's or another machine's keychain: the passphrase is asked instead.
        return undefined
      }
    },
    save: async passphrase => {
      if (!await cipher.isAvailable()) throw new PassphraseStoreError('no keychain on this system: the passphrase cannot be kept')
      if (typeof passphrase !== 'string' || passphrase === '') throw new PassphraseStoreError('an empty passphrase is not kept')
      // Written whole or not at all: a torn file would lose the keys' passphrase.
      const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`
      try {
        await mkdir(dirname(file), { recursive: true, mode: 0o700 })
        await writeFile(tmp, await cipher.encrypt(passphrase), { mode: 0o600, flush: true })
        await rename(tmp, file)
      } catch (err) {
        await rm(tmp, { force: true })
        throw err
      }
    },
    forget: async () => { await rm(file, { force: true }) }
  }
}
