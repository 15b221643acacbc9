import 'fake-indexeddb/auto'
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { IndexeddbPersistence } from 'y-indexeddb'
import { ReplicaStore, fromBase64, toBase64, type MetaStorage, type ReplicaComponents, type ReplicaRequest } from '../renderer/src/data/replica.ts'

// The node's side of the replica channel, as the contract spells it: `hello` with the doc's epoch,
// then the update the client misses against its state vector, then every later update.
class FakeNode {
  doc = new Y.Doc()
  epoch: string
  requests: ReplicaRequest[] = []
  streams: Array<ReadableStreamDefaultController<Uint8Array>> = []
  refuse = false

  constructor (epoch: string) { this.epoch = epoch }

  open = async (request: ReplicaRequest, signal: AbortSignal): Promise<Response> => {
    this.requests.push(request)
    if (this.refuse) throw new TypeError('fetch failed')
    const encoder = new TextEncoder()
    const vector = request.epoch === this.epoch ? fromBase64(request.stateVector) : new Uint8Array([0])
    const stream = new ReadableStream<Uint8Array>({
      start: controller => {
        this.streams.push(controller)
        controller.enqueue(encoder.encode(`event: hello\ndata: ${JSON.stringify({ epoch: this.epoch })}\n\n`))
        controller.enqueue(encoder.encode(`event: update\ndata: ${toBase64(Y.encodeStateAsUpdate(this.doc, vector))}\n\n`))
        const onUpdate = (update: Uint8Array): void => {
          try { controller.enqueue(encoder.encode(`event: update\ndata: ${toBase64(update)}\n\n`)) } catch {}
        }
        this.doc.on('update', onUpdate)
        signal.addEventListener('abort', () => {
          this.doc.off('update', onUpdate)
          try { controller.error(new DOMException('aborted', 'AbortError')) } catch {}
        })
      }
    })
    return new Response(stream, { headers: { 'Content-Type': 'text/event-stream' } })
  }

  /** The node restarts: a new doc instance with a new epoch; open streams end. */
  restart (epoch: string): void {
    for (const stream of this.streams) { try { stream.close() } catch {} }
    this.streams = []
    this.doc = new Y.Doc()
    this.epoch = epoch
  }

  /** Half-written lines and keep-alive comments on every open stream. */
  keepAlive (): void {
    for (const stream of this.streams) stream.enqueue(new TextEncoder().encode(': keep-alive\n\n'))
  }
}

/** Holds back all the node sends after its `hello` (on every stream it opens) until release(). */
function holdAfterHello (node: FakeNode): { release: () => void } {
  const open = node.open
  let release!: () => void
  const released = new Promise<void>(resolve => { release = resolve })
  node.open = async (request, signal) => {
    const reader = (await open(request, signal)).body!.getReader()
    const hello = await reader.read()
    return new Response(new ReadableStream<Uint8Array>({
      start: controller => { controller.enqueue(hello.value!) },
      pull: async controller => {
        await released
        const next = await reader.read()
        if (next.done) controller.close(); else controller.enqueue(next.value)
      }
    }))
  }
  return { release }
}

function memoryMeta (): MetaStorage & { map: Map<string, string> } {
  const map = new Map<string, string>()
  return { map, getItem: key => map.get(key) ?? null, setItem: (key, value) => { map.set(key, value) } }
}

const stores: ReplicaStore[] = []
let dbCounter = 0

async function openStore (node: FakeNode, meta = memoryMeta(), name = `test-${++dbCounter}`): Promise<ReplicaStore> {
  const components: ReplicaComponents = {
    openStream: async (request, signal) => await node.open(request, signal),
    persist: (db, doc) => new IndexeddbPersistence(db, doc),
    meta,
    now: () => 1_767_240_000_000
  }
  const store = await ReplicaStore.open(components, { name, backoffMs: 5, maxBackoffMs: 20 })
  stores.push(store)
  return store
}

async function until (check: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

const accountsOf = (doc: Y.Doc): Record<string, unknown> => doc.getMap('accounts').toJSON()

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close()
})

describe('ReplicaStore', () => {
  it('takes the node state on first connect, then every later update, and goes live', async () => {
    const node = new FakeNode('epoch-1')
    node.doc.getMap('accounts').set('mg1a', { id: 'mg1a', balanceWh: 1000 })
    const store = await openStore(node)
    expect(store.status().state).toBe('connecting')
    store.start()
    await until(() => store.doc.getMap('accounts').has('mg1a'))
    expect(store.status()).toEqual({ state: 'live', lastUpdate: 1_767_240_000_000 })
    expect(node.requests[0]).toEqual({ stateVector: toBase64(Y.encodeStateVector(new Y.Doc())), epoch: '' })
    expect(store.epoch).toBe('epoch-1')

    let notified = 0
    store.subscribe(() => { notified++ })
    node.doc.getMap('accounts').set('mg1b', { id: 'mg1b', balanceWh: 5 })
    node.keepAlive()
    await until(() => store.doc.getMap('accounts').has('mg1b'))
    expect(accountsOf(store.doc)).toEqual(accountsOf(node.doc))
    expect(notified).toBeGreaterThan(0)
  })

  it('says syncing from the node\'s hello until its first update is applied, and live only then', async () => {
    const node = new FakeNode('epoch-1')
    node.doc.getMap('accounts').set('mg1a', { id: 'mg1a', balanceWh: 1000 })
    const store = await openStore(node)
    const gate = holdAfterHello(node)
    const states: string[] = []
    let liveWithoutData = false
    store.subscribe(() => {
      const { state } = store.status()
      if (states.at(-1) !== state) states.push(state)
      if (state === 'live' && !store.doc.getMap('accounts').has('mg1a')) liveWithoutData = true
    })
    store.start()
    await until(() => store.status().state === 'syncing')
    // the node answered; what this replica lacks has not arrived yet
    await new Promise(resolve => setTimeout(resolve, 20))
    expect(store.status()).toEqual({ state: 'syncing', lastUpdate: null })
    expect(accountsOf(store.doc)).toEqual({})

    gate.release()
    await until(() => store.status().state === 'live')
    expect(accountsOf(store.doc)).toEqual({ mg1a: { id: 'mg1a', balanceWh: 1000 } })
    expect(store.status().lastUpdate).toBe(1_767_240_000_000)
    expect(states).toEqual(['syncing', 'live'])
    expect(liveWithoutData).toBe(false)
  })

  it('reconnects after the stream ends, sending its state vector and epoch, and gets only what it misses', async () => {
    const node = new FakeNode('epoch-1')
    node.doc.getMap('accounts').set('mg1a', { id: 'mg1a' })
    const store = await openStore(node)
    store.start()
    await until(() => store.doc.getMap('accounts').has('mg1a'))
    for (const stream of node.streams) stream.close()
    node.streams = []
    node.doc.getMap('accounts').set('mg1c', { id: 'mg1c' })
    await until(() => store.doc.getMap('accounts').has('mg1c'))
    expect(node.requests).toHaveLength(2)
    expect(node.requests[1]?.epoch).toBe('epoch-1')
    expect(Y.decodeStateVector(fromBase64(node.requests[1]!.stateVector)).size).toBe(1)
  })

  it('throws the replica away when the node answers another epoch, showing the old one until the fresh one has its first update', async () => {
    const node = new FakeNode('epoch-1')
    node.doc.getMap('accounts').set('old', { id: 'old' })
    const meta = memoryMeta()
    const store = await openStore(node, meta)
    store.start()
    await until(() => store.doc.getMap('accounts').has('old'))
    const oldDoc = store.doc

    // the node restarts with a fresh doc; hold back its first update to see the old one still shown
    const gate = holdAfterHello(node)
    node.restart('epoch-2')
    node.doc.getMap('accounts').set('new', { id: 'new' })
    await until(() => node.requests.length === 2 && store.status().state === 'syncing')
    expect(store.doc).toBe(oldDoc)
    expect(accountsOf(store.doc)).toEqual({ old: { id: 'old' } })
    expect(meta.map.get(`test-${dbCounter}.epoch`)).toBe('epoch-1')

    gate.release()
    await until(() => store.epoch === 'epoch-2')
    expect(store.status().state).toBe('live')
    expect(accountsOf(store.doc)).toEqual({ new: { id: 'new' } })
    expect(node.requests.at(-1)?.epoch).toBe('epoch-1')
    expect(meta.map.get(`test-${dbCounter}.epoch`)).toBe('epoch-2')
  })

  it('opens with the last stored state before any network, and says offline while the node does not answer', async () => {
    const node = new FakeNode('epoch-1')
    node.doc.getMap('accounts').set('mg1a', { id: 'mg1a', balanceWh: 700 })
    node.doc.getMap('status').set('updatedAt', 1_767_239_000_000)
    const meta = memoryMeta()
    const first = await openStore(node, meta, 'persisted')
    first.start()
    await until(() => first.doc.getMap('accounts').has('mg1a'))
    await first.close()
    stores.splice(stores.indexOf(first), 1)

    const unreachable = new FakeNode('epoch-1')
    unreachable.refuse = true
    const second = await openStore(unreachable, meta, 'persisted')
    expect(accountsOf(second.doc)).toEqual({ mg1a: { id: 'mg1a', balanceWh: 700 } })
    expect(second.epoch).toBe('epoch-1')
    expect(second.status().lastUpdate).toBe(1_767_240_000_000)
    expect(unreachable.requests).toHaveLength(0)

    second.start()
    await until(() => unreachable.requests.length >= 3)
    expect(second.status().state).not.toBe('live')
    expect(accountsOf(second.doc)).toEqual({ mg1a: { id: 'mg1a', balanceWh: 700 } })

    unreachable.refuse = false
    await until(() => second.status().state === 'live')
  })
})
