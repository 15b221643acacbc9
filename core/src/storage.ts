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
  /**
   * Optional: the entries of `loadRange(prefix)`, in the same order, one at a time, for a range too
   * large to hold at once (every op a node stores). Entries saved or removed while a scan runs may
   * or may not be seen.
   */
  scanRange? (prefix: StorageKey): AsyncIterable<StorageEntry>
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

/**
 * Keeps everything in a Map keyed by the key's segments joined with NUL (no segment holds one): for
 * tests, the browser and light peers. A batch's bytes are copied into one buffer, not one per entry.
 */
export class MemoryStorage implements StorageAdapter {
  readonly #entries = new Map<string, Uint8Array>()

  async load (key: StorageKey): Promise<Uint8Array | undefined> {
    checkKey(key)
    return this.#entries.get(key.join('\0'))?.slice()
  }

  async save (key: StorageKey, data: Uint8Array): Promise<void> {
    await this.saveBatch([{ key, data }])
  }

  async saveBatch (entries: readonly StorageEntry[]): Promise<void> {
    let size = 0
    for (const { key, data } of entries) {
      checkKey(key)
      if (!(data instanceof Uint8Array)) throw new TypeError('storage data: expected bytes')
      size += data.length
    }
    const copy = new Uint8Array(size)
    let at = 0
    for (const { key, data } of entries) {
      copy.set(data, at)
      this.#entries.set(key.join('\0'), copy.subarray(at, at + data.length))
      at += data.length
    }
  }

  async remove (key: StorageKey): Promise<void> {
    checkKey(key)
    this.#entries.delete(key.join('\0'))
  }

  async loadRange (prefix: StorageKey): Promise<StorageEntry[]> {
    checkKey(prefix, true)
    const matches = prefixMatcher(prefix)
    const out: StorageEntry[] = []
    for (const [text, data] of this.#entries) {
      if (matches(text)) out.push({ key: text.split('\0'), data: data.slice() })
    }
    return out.sort((a, b) => compareKeys(a.key, b.key))
  }

  async * scanRange (prefix: StorageKey): AsyncGenerator<StorageEntry> {
    yield * await this.loadRange(prefix)
  }

  async removeRange (prefix: StorageKey): Promise<void> {
    checkKey(prefix, true)
    const matches = prefixMatcher(prefix)
    for (const text of [...this.#entries.keys()]) if (matches(text)) this.#entries.delete(text)
  }
}

/** Whether a stored key (segments joined with NUL) starts with `prefix`: whole segments only. */
function prefixMatcher (prefix: StorageKey): (text: string) => boolean {
  if (prefix.length === 0) return () => true
  const open = prefix.join('\0')
  return text => text.startsWith(open) && (text.length === open.length || text.charCodeAt(open.length) === 0)
}
