// The UI's local-first replica of its node's view (the replica channel; its contract is POST /replica in docs/API.md):
// a Y.Doc persisted in IndexedDB, shown at once from the last stored state, kept current by
// POST /api/v1/replica (an event stream of `hello` then Yjs `update`s). A `hello` naming another
// epoch than the stored one means the node rebuilt its doc: updates go to a fresh doc and database,
// and the old one stays on screen until the fresh one has its first update.
import * as Y from 'yjs'
import { IndexeddbPersistence } from 'y-indexeddb'
import { connection } from './connection.ts'
import { readEvents } from './sse.ts'

/**
 * `connecting`: asking the node for the stream; `syncing`: the node answered (`hello`) and its first
 * update, what this replica lacks, is not applied yet; `live`: caught up, every change arrives as it
 * happens; `offline`: the node did not answer or the stream broke, retried with backoff.
 */
export type ReplicaState = 'connecting' | 'syncing' | 'live' | 'offline'

export interface ReplicaStatus {
  state: ReplicaState
  /** When this app last received an update from its node (ms), or null if never. */
  lastUpdate: number | null
}

/** What the hooks read: a doc, a version that changes with it (not with the status), and the channel's status. */
export interface ReplicaView {
  readonly doc: Y.Doc
  version: () => number
  status: () => ReplicaStatus
  subscribe: (listener: () => void) => () => void
}

export interface Persistence {
  whenSynced: Promise<unknown>
  destroy: () => Promise<void>
  clearData: () => Promise<void>
}

export interface MetaStorage {
  getItem: (key: string) => string | null
  setItem: (key: string, value: string) => void
}

export interface ReplicaRequest { stateVector: string, epoch: string }

export interface ReplicaComponents {
  /** Opens the event stream (default: fetch POST /api/v1/replica with the bearer token). */
  openStream: (request: ReplicaRequest, signal: AbortSignal) => Promise<Response>
  /** Persists a doc under a database name (default: y-indexeddb). */
  persist: (name: string, doc: Y.Doc) => Persistence
  /** Keeps the current epoch and the last update time (default: localStorage). */
  meta: MetaStorage
  now: () => number
}

export interface ReplicaOptions {
  name?: string
  /** First reconnect delay, doubled per failure up to maxBackoffMs. */
  backoffMs?: number
  maxBackoffMs?: number
  /** Nothing heard for this long (keep-alives come every 15 s): the stream is dead, reconnect. */
  idleMs?: number
}

export class ReplicaProtocolError extends Error {
  static override name = 'ReplicaProtocolError'
  constructor (message: string) { super(message); this.name = 'ReplicaProtocolError' }
}

interface Replica { doc: Y.Doc, persistence: Persistence, epoch: string }

export async function openReplicaStream (request: ReplicaRequest, signal: AbortSignal): Promise<Response> {
  const { url, token } = await connection()
  return await fetch(`${url}/api/v1/replica`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Accept: 'text/event-stream' },
    body: JSON.stringify(request),
    signal
  })
}

/**
 * y-indexeddb, listening to the doc only once the stored state is loaded. It listens from the start,
 * and a doc with an `update` listener encodes every transaction as an update: loading would encode
 * the whole stored state once more (for y-indexeddb to ignore it, the origin being itself), ~0.3 s
 * for the 17 MB replica of a 10,000-device grid. Nothing else writes to the doc before it is loaded.
 */
export function persistIndexedDb (name: string, doc: Y.Doc): IndexeddbPersistence {
  const persistence = new IndexeddbPersistence(name, doc)
  doc.off('update', persistence._storeUpdate)
  void persistence.whenSynced.then(() => {
    if (!persistence._destroyed) doc.on('update', persistence._storeUpdate)
  })
  return persistence
}

export const defaultComponents = (): ReplicaComponents => ({
  openStream: openReplicaStream,
  persist: persistIndexedDb,
  meta: window.localStorage,
  now: Date.now
})

export function toBase64 (bytes: Uint8Array): string {
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}

export function fromBase64 (text: string): Uint8Array {
  const binary = atob(text)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}

export class ReplicaStore implements ReplicaView {
  readonly #components: ReplicaComponents
  readonly #name: string
  readonly #backoffMs: number
  readonly #maxBackoffMs: number
  readonly #idleMs: number
  readonly #listeners = new Set<() => void>()
  #current!: Replica
  #status: ReplicaStatus
  #version = 0
  #running = false
  #abort: AbortController | undefined
  #wake: (() => void) | undefined
  #loop: Promise<void> | undefined

  private constructor (components: ReplicaComponents, options: ReplicaOptions) {
    this.#components = components
    this.#name = options.name ?? 'microgrid-replica'
    this.#backoffMs = options.backoffMs ?? 1000
    this.#maxBackoffMs = options.maxBackoffMs ?? 30_000
    this.#idleMs = options.idleMs ?? 45_000
    const last = Number(components.meta.getItem(`${this.#name}.lastUpdate`))
    this.#status = { state: 'connecting', lastUpdate: last > 0 ? last : null }
  }

  /** Opens the stored replica (resolves once IndexedDB's state is loaded); call start() to connect. */
  static async open (components: ReplicaComponents = defaultComponents(), options: ReplicaOptions = {}): Promise<ReplicaStore> {
    const store = new ReplicaStore(components, options)
    const epoch = components.meta.getItem(`${store.#name}.epoch`) ?? ''
    store.#current = await store.#openReplica(epoch)
    store.#current.doc.on('update', store.#onUpdate)
    return store
  }

  get doc (): Y.Doc { return this.#current.doc }
  /** Nothing to show: no state stored by an earlier run, none received yet. */
  get empty (): boolean { return this.#current.doc.store.clients.size === 0 }
  get epoch (): string { return this.#current.epoch }
  version = (): number => this.#version
  status = (): ReplicaStatus => this.#status

  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  /** Connects, and reconnects with backoff until stop(). */
  start (): void {
    if (this.#running) return
    this.#running = true
    this.#loop = this.#run()
  }

  async stop (): Promise<void> {
    this.#running = false
    this.#abort?.abort()
    this.#wake?.()
    await this.#loop
  }

  /** Stops and closes the database (the stored state stays). */
  async close (): Promise<void> {
    await this.stop()
    this.#current.doc.off('update', this.#onUpdate)
    await this.#current.persistence.destroy()
  }

  #onUpdate = (): void => { this.#changed() }

  /** The doc changed: a new version, and every listener hears it. */
  #changed (): void {
    this.#version++
    this.#notify()
  }

  /**
   * Only the status changed: listeners hear it, the version stays, so what is read from the doc is not
   * read again (with 10,000 devices, a page re-rendered whole at each connecting/syncing/live/offline).
   */
  #notify (): void {
    for (const listener of [...this.#listeners]) listener()
  }

  #setState (state: ReplicaState): void {
    if (this.#status.state === state) return
    this.#status = { ...this.#status, state }
    this.#notify()
  }

  async #openReplica (epoch: string): Promise<Replica> {
    const doc = new Y.Doc()
    const persistence = this.#components.persist(`${this.#name}-${epoch === '' ? 'none' : epoch}`, doc)
    await persistence.whenSynced
    return { doc, persistence, epoch }
  }

  async #run (): Promise<void> {
    let failures = 0
    while (this.#running) {
      this.#setState('connecting')
      try {
        await this.#session(() => { failures = 0 })
      } catch {
        // a refused, broken or dead stream: reconnect below
      }
      if (!this.#running) break
      this.#setState('offline')
      const delay = Math.min(this.#maxBackoffMs, this.#backoffMs * 2 ** failures)
      failures++
      await new Promise<void>(resolve => {
        const timer = setTimeout(resolve, delay)
        this.#wake = () => { clearTimeout(timer); resolve() }
      })
    }
  }

  async #session (onAnswer: () => void): Promise<void> {
    const abort = new AbortController()
    this.#abort = abort
    let idle: ReturnType<typeof setTimeout> | undefined
    const heard = (): void => {
      clearTimeout(idle)
      idle = setTimeout(() => { abort.abort() }, this.#idleMs)
    }
    heard()
    let target: Replica | undefined
    try {
      const response = await this.#components.openStream(
        { stateVector: toBase64(Y.encodeStateVector(this.#current.doc)), epoch: this.#current.epoch }, abort.signal)
      if (!response.ok || response.body === null) throw new ReplicaProtocolError(`the node answered ${response.status}`)
      for await (const event of readEvents(response.body, heard, abort.signal)) {
        if (event.event === 'hello') {
          const epoch = (JSON.parse(event.data) as { epoch?: unknown }).epoch
          if (typeof epoch !== 'string' || epoch === '') throw new ReplicaProtocolError('hello without an epoch')
          if (target !== undefined && target !== this.#current) await target.persistence.clearData()
          target = epoch === this.#current.epoch ? this.#current : await this.#openReplica(epoch)
          onAnswer()
          // Live only once the first update, the catch-up, is applied: until then the doc is behind.
          this.#setState('syncing')
        } else if (event.event === 'update') {
          if (target === undefined) throw new ReplicaProtocolError('update before hello')
          Y.applyUpdate(target.doc, fromBase64(event.data), 'replica')
          if (target !== this.#current) await this.#swap(target)
          this.#received()
        }
      }
      throw new ReplicaProtocolError('the stream ended')
    } catch (err) {
      if (target !== undefined && target !== this.#current) await target.persistence.clearData()
      throw err
    } finally {
      clearTimeout(idle)
    }
  }

  /** The fresh epoch's doc has its first update: show it, and drop the old doc and database. */
  async #swap (fresh: Replica): Promise<void> {
    const old = this.#current
    old.doc.off('update', this.#onUpdate)
    this.#current = fresh
    fresh.doc.on('update', this.#onUpdate)
    this.#components.meta.setItem(`${this.#name}.epoch`, fresh.epoch)
    this.#changed()
    await old.persistence.clearData()
    old.doc.destroy()
  }

  /** An update is applied: the replica is caught up (live) as of now. */
  #received (): void {
    const now = this.#components.now()
    this.#components.meta.setItem(`${this.#name}.lastUpdate`, String(now))
    this.#status = { state: 'live', lastUpdate: now }
    this.#notify()
  }
}

/** A replica that never connects: a fixed doc and state (tests, previews). */
export function staticReplica (doc: Y.Doc, status: ReplicaStatus = { state: 'live', lastUpdate: null }): ReplicaView {
  let version = 0
  const listeners = new Set<() => void>()
  doc.on('update', () => {
    version++
    for (const listener of [...listeners]) listener()
  })
  return {
    doc,
    version: () => version,
    status: () => status,
    subscribe: listener => {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    }
  }
}
