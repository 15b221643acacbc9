/**
 * Storage is keys and bytes. A key is a list of path segments (`['ops', '<id hex>']`); a range is
 * every key that starts with a prefix. `saveBatch` is atomic: after a crash either every entry of a
 * batch is there or none is, which is what lets a node acknowledge an op only once it is durable.
 */
import { toHex } from '@microgrid/protocol'

export type StorageKey = readonly string[]

/** Storage layout of the ledger: one entry per op, keyed so an author's chain reads back in seq order. */
export function opKey (author: Uint8Array | string, seq: number, id: Uint8Array | string): string[] {
  return ['op', typeof author === 'string' ? author : toHex(author), String(seq).padStart(12, '0'), typeof id === 'string' ? id : toHex(id)]
}

export interface StorageEntry {
  key: StorageKey
  data: Uint8Array
}

export interface StorageAdapter {
  load (key: StorageKey): Promise<Uint8Array | undefined>
  save (key: StorageKey, data: Uint8Array): Promise<void>
  /** Saves every entry, all or nothing. */
  saveBatch (entries: readonly StorageEntry[]): Promise<void>
  remove (key: StorageKey): Promise<void>
  /** Every entry whose key starts with `prefix`, in ascending key order (segment by segment). */
  loadRange (prefix: StorageKey): Promise<StorageEntry[]>
  removeRange (prefix: StorageKey): Promise<void>
  close? (): Promise<void>
}

export class StorageKeyError extends TypeError {
  override readonly name = 'StorageKeyError'
}

/** Keys must be non-empty lists of non-empty segments without NUL, so any backend can encode them. */
export function checkKey (key: StorageKey, allowEmpty = false): void {
  if (!Array.isArray(key) || (!allowEmpty && key.length === 0)) throw new StorageKeyError('storage key: expected a non-empty list of segments')
  for (const segment of key) {
    if (typeof segment !== 'string' || segment.length === 0 || segment.includes('\0')) {
      throw new StorageKeyError(`storage key: expected non-empty text segments without NUL, got ${JSON.stringify(segment)}`)
    }
  }
}

export function compareKeys (a: StorageKey, b: StorageKey): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a[i] as string
    const y = b[i] as string
    if (x !== y) return x < y ? -1 : 1
  }
  return a.length - b.length
}

export function hasPrefix (key: StorageKey, prefix: StorageKey): boolean {
  if (key.length < prefix.length) return false
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false
  return true
}

/** Keeps everything in a Map keyed by the key's JSON text: for tests, the browser and light peers. */
export class MemoryStorage implements StorageAdapter {
  readonly #entries = new Map<string, Uint8Array>()

  async load (key: StorageKey): Promise<Uint8Array | undefined> {
    checkKey(key)
    return this.#entries.get(JSON.stringify(key))?.slice()
  }

  async save (key: StorageKey, data: Uint8Array): Promise<void> {
    await this.saveBatch([{ key, data }])
  }

  async saveBatch (entries: readonly StorageEntry[]): Promise<void> {
    for (const { key, data } of entries) {
      checkKey(key)
      if (!(data instanceof Uint8Array)) throw new TypeError('storage data: expected bytes')
    }
    for (const { key, data } of entries) this.#entries.set(JSON.stringify(key), data.slice())
  }

  async remove (key: StorageKey): Promise<void> {
    checkKey(key)
    this.#entries.delete(JSON.stringify(key))
  }

  async loadRange (prefix: StorageKey): Promise<StorageEntry[]> {
    checkKey(prefix, true)
    const matches = prefixMatcher(prefix)
    const out: StorageEntry[] = []
    for (const [text, data] of this.#entries) {
      if (matches(text)) out.push({ key: JSON.parse(text) as string[], data: data.slice() })
    }
    return out.sort((a, b) => compareKeys(a.key, b.key))
  }

  async removeRange (prefix: StorageKey): Promise<void> {
    checkKey(prefix, true)
    const matches = prefixMatcher(prefix)
    for (const text of [...this.#entries.keys()]) if (matches(text)) this.#entries.delete(text)
  }
}

/**
 * Whether a key's JSON text is that of a key starting with `prefix`, without parsing it: JSON text of
 * a list of strings is canonical, so the prefix's text without its closing `]` must be followed by the
 * next segment's `,` or by the key's own `]`.
 */
function prefixMatcher (prefix: StorageKey): (text: string) => boolean {
  if (prefix.length === 0) return () => true
  const open = JSON.stringify(prefix).slice(0, -1)
  return text => text.startsWith(open) && (text.length === open.length + 1 || text.charCodeAt(open.length) === 0x2c)
}
