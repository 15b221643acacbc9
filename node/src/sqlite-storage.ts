/**
 * A `StorageAdapter` over one SQLite file, through the built-in `node:sqlite` (`DatabaseSync`, no native
 * build). WAL journal, `synchronous=FULL` by default, one `BEGIN IMMEDIATE` transaction per `saveBatch`:
 * once `saveBatch` has resolved the batch survives a `kill -9` of the process (and, with FULL, a power
 * cut), and after a crash a batch is either all there or not there at all.
 *
 * Keys are stored in one BLOB column, the primary key of a WITHOUT ROWID table (so a range is a walk
 * along the table's own b-tree). A key is its segments, each encoded as CESU-8, joined by a 0x00 byte:
 *
 * - 0x00 sorts below every other byte and never occurs inside an encoded segment (segments have no
 *   NUL), so a shorter segment sorts before every longer one that it begins, and `['a', 'b']` sorts
 *   before `['a-']` — byte order (SQLite's BINARY / memcmp) is the segment-wise order of `compareKeys`.
 * - CESU-8 encodes each UTF-16 code unit on its own (1 to 3 bytes, as UTF-8 does for U+0001..U+FFFF,
 *   surrogates included). Byte order is then exactly JavaScript's string order (UTF-16 code units),
 *   which plain UTF-8 is not: UTF-8 puts U+FF01 before '😀' (U+1F600) while `'\uFF01' < '😀'` is
 *   false in JavaScript. It also keeps lone surrogates, which UTF-8 would turn into U+FFFD. For text
 *   without surrogates (ASCII, hex ids, all of the BMP) the bytes are plain UTF-8, readable in the
 *   sqlite3 shell.
 *
 * A value over `PART_BYTES` (a ledger snapshot is tens of MB) is stored in parts, in a table of its own,
 * and its entry says how many: SQLite reads one large value through a chain of overflow pages, page by
 * page, which for a 69 MB snapshot took 250–500 ms where 1 MiB parts take some 30 ms. Parts left over
 * when a large value is overwritten by a small one are ignored, and removed with the key or by the
 * next large value under it.
 *
 * `loadRange(prefix)` is one range query: every key K with P <= K < P||0x01 (P the encoded prefix) is P
 * itself or begins with P||0x00, i.e. is P or lies under it segment-wise; nothing else is in that range.
 *
 * All calls are synchronous underneath (the promise is settled before the call returns), so calls on
 * one instance never interleave and a batch never sees another's half-written state; they do block the
 * event loop for as long as SQLite takes (a FULL commit is an fsync or two).
 */
import { Buffer } from 'node:buffer'
import { DatabaseSync, type StatementSync } from 'node:sqlite'
import { checkKey, type StorageAdapter, type StorageEntry, type StorageKey } from '@microgrid/core'

export interface SqliteStorageOptions {
  /** FULL (default): a resolved `saveBatch` survives a power cut. NORMAL: it survives a process crash,
   * but the last commits before a power cut or OS crash may be lost (never half of one). */
  synchronous?: 'FULL' | 'NORMAL'
  /** How long to wait for another connection's write lock before failing with SQLITE_BUSY. Default 5000 ms. */
  busyTimeoutMs?: number
}

/** 1: entries (key, data). 2: large values in parts (`entries.parts`, table `parts`). */
export const SQLITE_STORAGE_VERSION = 2

/** Values larger than this are stored in parts of this size. */
export const PART_BYTES = 1024 * 1024

/** The tables as this code makes them (a version 1 file gains the `parts` column and table on open). */
export const SQLITE_STORAGE_SCHEMA = [
  'CREATE TABLE IF NOT EXISTS entries (key BLOB NOT NULL PRIMARY KEY, data BLOB NOT NULL, parts INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID',
  'CREATE TABLE IF NOT EXISTS parts (key BLOB NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (key, n))'
] as const

/** The statements, exported so tests can check their query plans. `?1`/`?2` are the range bounds. */
export const SQLITE_STORAGE_SQL = {
  get: 'SELECT data, parts FROM entries WHERE key = ?1',
  put: 'INSERT INTO entries (key, data, parts) VALUES (?1, ?2, ?3) ON CONFLICT (key) DO UPDATE SET data = excluded.data, parts = excluded.parts',
  remove: 'DELETE FROM entries WHERE key = ?1',
  range: 'SELECT key, data, parts FROM entries WHERE key >= ?1 AND key < ?2 ORDER BY key',
  all: 'SELECT key, data, parts FROM entries ORDER BY key',
  removeRange: 'DELETE FROM entries WHERE key >= ?1 AND key < ?2',
  removeAll: 'DELETE FROM entries',
  partsSize: 'SELECT count(*), coalesce(sum(length(data)), 0) FROM parts WHERE key = ?1 AND n < ?2',
  partsOf: 'SELECT data FROM parts WHERE key = ?1 AND n < ?2 ORDER BY n',
  putPart: 'INSERT INTO parts (key, n, data) VALUES (?1, ?2, ?3)',
  removeParts: 'DELETE FROM parts WHERE key = ?1',
  removePartsRange: 'DELETE FROM parts WHERE key >= ?1 AND key < ?2',
  removeAllParts: 'DELETE FROM parts',
  countRange: 'SELECT count(*) FROM entries WHERE key >= ?1 AND key < ?2',
  countAll: 'SELECT count(*) FROM entries'
} as const

type StatementName = keyof typeof SQLITE_STORAGE_SQL

/** An encoded key no entry can have (keys have at least one non-empty segment). */
const NO_KEY = new Uint8Array(0)

export class SqliteStorageClosedError extends Error {
  override readonly name = 'SqliteStorageClosedError'
}

export class SqliteStorage implements StorageAdapter {
  readonly path: string
  #db: DatabaseSync | undefined
  readonly #statements: Record<StatementName, StatementSync>
  readonly #begin: StatementSync
  readonly #commit: StatementSync
  readonly #rollback: StatementSync

  private constructor (path: string, db: DatabaseSync) {
    this.path = path
    this.#db = db
    const statements: Partial<Record<StatementName, StatementSync>> = {}
    for (const name of Object.keys(SQLITE_STORAGE_SQL) as StatementName[]) statements[name] = db.prepare(SQLITE_STORAGE_SQL[name])
    this.#statements = statements as Record<StatementName, StatementSync>
    this.#statements.range.setReturnArrays(true)
    this.#statements.all.setReturnArrays(true)
    this.#statements.get.setReturnArrays(true)
    this.#statements.partsSize.setReturnArrays(true)
    this.#statements.partsOf.setReturnArrays(true)
    this.#statements.countRange.setReturnArrays(true)
    this.#statements.countAll.setReturnArrays(true)
    this.#begin = db.prepare('BEGIN IMMEDIATE')
    this.#commit = db.prepare('COMMIT')
    this.#rollback = db.prepare('ROLLBACK')
  }

  /** Opens (creating if needed) the database file at `path`. */
  static open (path: string, options: SqliteStorageOptions = {}): SqliteStorage {
    const synchronous = options.synchronous ?? 'FULL'
    if (synchronous !== 'FULL' && synchronous !== 'NORMAL') throw new TypeError(`SqliteStorage: synchronous must be 'FULL' or 'NORMAL', got ${String(synchronous)}`)
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000
    if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0) throw new TypeError('SqliteStorage: busyTimeoutMs must be a non-negative integer')
    const db = new DatabaseSync(path, { timeout: busyTimeoutMs })
    try {
      const mode = db.prepare('PRAGMA journal_mode = WAL').get()?.['journal_mode']
      if (mode !== 'wal' && path !== ':memory:') throw new Error(`SqliteStorage: could not switch ${path} to WAL journal mode (got ${String(mode)})`)
      db.exec(`PRAGMA synchronous = ${synchronous}`)
      const version = Number(db.prepare('PRAGMA user_version').get()?.['user_version'] ?? 0)
      if (version > SQLITE_STORAGE_VERSION) throw new Error(`SqliteStorage: ${path} has schema version ${version}, newer than this code (${SQLITE_STORAGE_VERSION})`)
      db.exec('BEGIN IMMEDIATE')
      try {
        const columns = db.prepare("SELECT name FROM pragma_table_info('entries')").all().map(r => r['name'])
        if (columns.length > 0 && !columns.includes('parts')) db.exec('ALTER TABLE entries ADD COLUMN parts INTEGER NOT NULL DEFAULT 0')
        for (const statement of SQLITE_STORAGE_SCHEMA) db.exec(statement)
        db.exec(`PRAGMA user_version = ${SQLITE_STORAGE_VERSION}`)
        db.exec('COMMIT')
      } catch (err) {
        db.exec('ROLLBACK')
        throw err
      }
      return new SqliteStorage(path, db)
    } catch (err) {
      db.close()
      throw err
    }
  }

  get isOpen (): boolean {
    return this.#db !== undefined
  }

  /** What the live connection is set to (journal mode, synchronous level, busy timeout), for checks and diagnostics. */
  settings (): { journalMode: string, synchronous: string, busyTimeoutMs: number } {
    this.#open()
    const db = this.#db as DatabaseSync
    const pragma = (name: string): unknown => Object.values(db.prepare(`PRAGMA ${name}`).get() ?? {})[0]
    const levels = ['OFF', 'NORMAL', 'FULL', 'EXTRA']
    return {
      journalMode: String(pragma('journal_mode')),
      synchronous: levels[Number(pragma('synchronous'))] ?? String(pragma('synchronous')),
      busyTimeoutMs: Number(pragma('busy_timeout'))
    }
  }

  #open (): void {
    if (this.#db === undefined) throw new SqliteStorageClosedError(`SqliteStorage: ${this.path} is closed`)
  }

  async load (key: StorageKey): Promise<Uint8Array | undefined> {
    this.#open()
    checkKey(key)
    const encoded = encodeKey(key)
    const row = this.#statements.get.get(encoded) as unknown as [Uint8Array, number] | undefined
    if (row === undefined) return undefined
    return row[1] > 0 ? this.#joinParts(encoded, row[1]) : row[0]
  }

  /** A value stored in parts, read into one buffer. */
  #joinParts (key: Uint8Array, parts: number): Uint8Array {
    const [count, size] = this.#statements.partsSize.get(key, parts) as unknown as [number, number]
    if (count !== parts) throw new Error(`SqliteStorage: ${this.path}: a value stored in ${parts} parts has ${count}`)
    const out = new Uint8Array(size)
    let at = 0
    for (const row of this.#statements.partsOf.iterate(key, parts) as unknown as Iterable<[Uint8Array]>) {
      out.set(row[0], at)
      at += row[0].length
    }
    // The cached statement holds on to its last result until it runs again: let go of the last part.
    this.#statements.partsOf.get(NO_KEY, 0)
    return out
  }

  async save (key: StorageKey, data: Uint8Array): Promise<void> {
    await this.saveBatch([{ key, data }])
  }

  async saveBatch (entries: readonly StorageEntry[]): Promise<void> {
    this.#open()
    if (!Array.isArray(entries)) throw new TypeError('saveBatch: expected a list of entries')
    // Check and encode everything before the transaction starts: a bad entry writes nothing.
    const rows: Array<[Uint8Array, Uint8Array]> = []
    for (const entry of entries) {
      checkKey(entry.key)
      if (!(entry.data instanceof Uint8Array)) throw new TypeError('storage data: expected bytes')
      rows.push([encodeKey(entry.key), entry.data])
    }
    if (rows.length === 0) return
    this.#transaction(() => {
      const { put, putPart, removeParts } = this.#statements
      for (const [key, data] of rows) {
        if (data.length <= PART_BYTES) {
          put.run(key, data, 0)
          continue
        }
        const parts = Math.ceil(data.length / PART_BYTES)
        put.run(key, NO_KEY, parts)
        removeParts.run(key)
        for (let n = 0; n < parts; n++) putPart.run(key, n, data.subarray(n * PART_BYTES, (n + 1) * PART_BYTES))
      }
    })
  }

  async remove (key: StorageKey): Promise<void> {
    this.#open()
    checkKey(key)
    const encoded = encodeKey(key)
    this.#transaction(() => {
      this.#statements.remove.run(encoded)
      this.#statements.removeParts.run(encoded)
    })
  }

  async loadRange (prefix: StorageKey): Promise<StorageEntry[]> {
    this.#open()
    checkKey(prefix, true)
    const rows = (prefix.length === 0
      ? this.#statements.all.all()
      : this.#statements.range.all(...rangeOf(prefix))) as unknown as Array<[Uint8Array, Uint8Array, number]>
    return rows.map(row => this.#entryOf(row))
  }

  /** A row of the range statements as an entry, its value joined from its parts if it has them. */
  #entryOf ([key, data, parts]: [Uint8Array, Uint8Array, number]): StorageEntry {
    return { key: decodeKey(key), data: parts > 0 ? this.#joinParts(key, parts) : data }
  }

  /** `loadRange`, one entry at a time: a statement of its own walks the range as it is read. */
  async * scanRange (prefix: StorageKey): AsyncGenerator<StorageEntry> {
    this.#open()
    checkKey(prefix, true)
    const statement = (this.#db as DatabaseSync).prepare(prefix.length === 0 ? SQLITE_STORAGE_SQL.all : SQLITE_STORAGE_SQL.range)
    statement.setReturnArrays(true)
    const rows = (prefix.length === 0 ? statement.iterate() : statement.iterate(...rangeOf(prefix))) as unknown as Iterator<[Uint8Array, Uint8Array, number]>
    for (;;) {
      this.#open() // closed while the scan waited for its reader
      const row = rows.next()
      if (row.done === true) return
      yield this.#entryOf(row.value)
    }
  }

  async removeRange (prefix: StorageKey): Promise<void> {
    this.#open()
    checkKey(prefix, true)
    this.#transaction(() => {
      if (prefix.length === 0) {
        this.#statements.removeAll.run()
        this.#statements.removeAllParts.run()
      } else {
        const range = rangeOf(prefix)
        this.#statements.removeRange.run(...range)
        this.#statements.removePartsRange.run(...range)
      }
    })
  }

  /** How many keys lie under `prefix` (`[]`: all of them), without reading the values. */
  async count (prefix: StorageKey = []): Promise<number> {
    this.#open()
    checkKey(prefix, true)
    const row = (prefix.length === 0
      ? this.#statements.countAll.get()
      : this.#statements.countRange.get(...rangeOf(prefix))) as unknown as [number]
    return row[0]
  }

  /** Closes the database (checkpointing the WAL when this is the last connection). Closing twice is fine. */
  async close (): Promise<void> {
    const db = this.#db
    if (db === undefined) return
    this.#db = undefined
    db.close()
  }

  #transaction (body: () => void): void {
    this.#begin.run()
    try {
      body()
      this.#commit.run()
    } catch (err) {
      // After a failed COMMIT SQLite may already have rolled back; then ROLLBACK itself fails. The
      // first error is the one that matters.
      try { this.#rollback.run() } catch { /* no transaction left */ }
      throw err
    }
  }
}

// ---- key encoding -------------------------------------------------------------------------------

const SURROGATE = /[\uD800-\uDFFF]/

/** Segments as CESU-8 joined by 0x00. Keys must have been checked (no NUL, no empty segment). */
export function encodeKey (key: StorageKey): Uint8Array {
  const text = key.join('\0')
  // Without surrogates CESU-8 is UTF-8, which Buffer encodes natively.
  if (!SURROGATE.test(text)) return Buffer.from(text, 'utf8')
  const out = new Uint8Array(text.length * 3)
  let n = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) {
      out[n++] = c
    } else if (c < 0x800) {
      out[n++] = 0xc0 | (c >> 6)
      out[n++] = 0x80 | (c & 0x3f)
    } else {
      out[n++] = 0xe0 | (c >> 12)
      out[n++] = 0x80 | ((c >> 6) & 0x3f)
      out[n++] = 0x80 | (c & 0x3f)
    }
  }
  return out.subarray(0, n)
}

export function decodeKey (bytes: Uint8Array): string[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  // A surrogate is 0xED 0xA0..0xBF in CESU-8; without one the bytes are valid UTF-8.
  let text: string
  if (!hasEncodedSurrogate(buf)) {
    text = buf.toString('utf8')
  } else {
    const units: number[] = []
    for (let i = 0; i < buf.length;) {
      const b = buf[i] as number
      if (b < 0x80) {
        units.push(b)
        i += 1
      } else if (b < 0xe0) {
        units.push(((b & 0x1f) << 6) | ((buf[i + 1] as number) & 0x3f))
        i += 2
      } else {
        units.push(((b & 0x0f) << 12) | (((buf[i + 1] as number) & 0x3f) << 6) | ((buf[i + 2] as number) & 0x3f))
        i += 3
      }
    }
    text = ''
    for (let i = 0; i < units.length; i += 8192) text += String.fromCharCode(...units.slice(i, i + 8192))
  }
  return text.split('\0')
}

function hasEncodedSurrogate (buf: Buffer): boolean {
  for (let i = buf.indexOf(0xed); i !== -1 && i + 1 < buf.length; i = buf.indexOf(0xed, i + 1)) {
    if ((buf[i + 1] as number) >= 0xa0) return true
  }
  return false
}

/** [P, P||0x01): P itself and every key that begins with P||0x00. */
function rangeOf (prefix: StorageKey): [Uint8Array, Uint8Array] {
  const low = encodeKey(prefix)
  const high = new Uint8Array(low.length + 1)
  high.set(low)
  high[low.length] = 0x01
  return [low, high]
}
