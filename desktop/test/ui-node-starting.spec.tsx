// @vitest-environment happy-dom
// The desktop app while its node starts: the page's Root over a ReplicaStore in (fake) IndexedDB and a
// fake window.microgrid. With a replica an earlier run stored, the app opens on it and says the node is
// starting; without one, the starting screen stays.
import 'fake-indexeddb/auto'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { act, cleanup, render, screen } from '@testing-library/react'
import * as Y from 'yjs'
import { when } from '../renderer/src/data/format.ts'
import { ReplicaStore, fromBase64, persistIndexedDb, toBase64, type MetaStorage, type ReplicaComponents, type ReplicaRequest } from '../renderer/src/data/replica.ts'
import { replicaOpener, Root } from '../renderer/src/Root.tsx'
import type { DesktopApi, NodeState } from '../renderer/src/setup/types.ts'
import { fixtureDoc, ids, mockApi } from './ui-fixture.tsx'

const READY = { state: 'ready' as const, url: 'microgrid-app://app', token: 'tok', api: 'http://127.0.0.1:4100', grid: ids.grid, peerId: '12D3KooWx' }
/** When the earlier run last heard from its node. */
const SEEN = Date.now() - 60_000

/** The node's side of the replica channel: `hello`, then what the request's state vector lacks; kept open. */
function nodeStream (epoch: string, doc: Y.Doc) {
  return async (request: ReplicaRequest, signal: AbortSignal): Promise<Response> => {
    const vector = request.epoch === epoch ? fromBase64(request.stateVector) : new Uint8Array([0])
    const text = new TextEncoder()
    return new Response(new ReadableStream<Uint8Array>({
      start: controller => {
        controller.enqueue(text.encode(`event: hello\ndata: ${JSON.stringify({ epoch })}\n\n`))
        controller.enqueue(text.encode(`event: update\ndata: ${toBase64(Y.encodeStateAsUpdate(doc, vector))}\n\n`))
        signal.addEventListener('abort', () => { try { controller.error(new DOMException('aborted', 'AbortError')) } catch {} })
      }
    }))
  }
}

let dbCounter = 0
let name: string
let meta: MetaStorage
const stores: ReplicaStore[] = []

function components (openStream: ReplicaComponents['openStream'], now: () => number): ReplicaComponents {
  return { openStream, persist: persistIndexedDb, meta, now }
}

/** An earlier run of the app: its replica filled from the node and stored in IndexedDB, then closed. */
async function earlierRun (nodeDoc: Y.Doc): Promise<void> {
  const store = await ReplicaStore.open(components(nodeStream('epoch-1', nodeDoc), () => SEEN), { name })
  store.start()
  await vi.waitFor(() => { expect(store.status().state).toBe('live') }, { timeout: 10_000, interval: 5 })
  await store.close()
}

interface FakeDesktop { api: DesktopApi, states: NodeState[], asked: () => number, nodeRuns: () => void }

/** window.microgrid answering `states` in turn (the last one after); connection() resolves on nodeRuns(). */
function fakeDesktop (...states: NodeState[]): FakeDesktop {
  let asked = 0
  let nodeRuns!: () => void
  const running = new Promise<void>(resolve => { nodeRuns = resolve })
  const api: DesktopApi = {
    connection: async () => { await running; return { url: READY.url, token: READY.token } },
    nodeState: async () => structuredClone(states[Math.min(asked++, states.length - 1)]!),
    chooseGenesisFile: async () => null,
    setup: async () => READY,
    unlock: async () => READY,
    openExternal: async () => false
  }
  return { api, states, asked: () => asked, nodeRuns }
}

/** Renders the page as main.tsx does, with this test's replica (its channel opens once the node runs). */
function renderRoot (desktop: FakeDesktop, openStream: ReplicaComponents['openStream']): void {
  const replica = replicaOpener(async () => {
    const store = await ReplicaStore.open(components(openStream, Date.now), { name })
    stores.push(store)
    return store
  }, desktop.api.connection)
  render(<Root desktop={desktop.api} replica={replica} />)
}

const statusText = (): string => screen.getByRole('status', { name: 'Connection' }).querySelectorAll('span')[1]?.textContent ?? ''
const balance = (): string => screen.getByLabelText('Your balance').textContent ?? ''

let api: ReturnType<typeof mockApi>

beforeEach(() => {
  name = `starting-${++dbCounter}`
  const map = new Map<string, string>()
  meta = { getItem: key => map.get(key) ?? null, setItem: (key, value) => { map.set(key, value) } }
  window.location.hash = '#/resident'
  localStorage.clear()
  api = mockApi()
})

afterEach(async () => {
  cleanup()
  api.restore()
  for (const store of stores.splice(0)) await store.close()
})

describe('the desktop app while its node starts', () => {
  it('opens on the state an earlier run stored, says the node is starting, then catches up and goes live without opening again', async () => {
    const nodeDoc = fixtureDoc()
    await earlierRun(nodeDoc)
    // while the app was closed the resident bought units
    const resident = nodeDoc.getMap<{ balanceWh: number }>('accounts').get(ids.resident)!
    nodeDoc.getMap('accounts').set(ids.resident, { ...resident, balanceWh: 3000 })

    const desktop = fakeDesktop({ state: 'starting' })
    const openStream = vi.fn(nodeStream('epoch-1', nodeDoc))
    renderRoot(desktop, openStream)
    expect(await screen.findByLabelText('Your balance')).toBeTruthy()
    expect(balance()).toBe('2.5 kWh')
    expect(statusText()).toBe(`Your node is starting… showing what this app last saw at ${when(SEEN, Date.now())}`)
    expect(screen.queryByRole('heading', { name: 'Starting your node…' })).toBeNull()
    expect(openStream).not.toHaveBeenCalled()

    const page = screen.getByRole('navigation', { name: 'Pages' })
    desktop.states.push(READY)
    await act(async () => { desktop.nodeRuns() })
    await screen.findByText('Live', {}, { timeout: 3000 })
    expect(balance()).toBe('3 kWh')
    // the gate hears that the node is ready at its next question
    const asked = desktop.asked()
    await vi.waitFor(() => { expect(desktop.asked()).toBeGreaterThan(asked) }, { timeout: 2000 })
    await act(async () => { await new Promise(resolve => setTimeout(resolve, 20)) })
    expect(statusText()).toBe('Live')
    expect(openStream).toHaveBeenCalledTimes(1)
    expect(openStream.mock.calls[0]?.[0].epoch).toBe('epoch-1')
    // the same page all along: not mounted again when the node got ready
    expect(page.isConnected).toBe(true)
  })

  it('keeps the starting screen when no earlier run stored a replica, and opens the app once the node is ready', async () => {
    const desktop = fakeDesktop({ state: 'starting' })
    renderRoot(desktop, nodeStream('epoch-1', fixtureDoc()))
    expect(await screen.findByRole('heading', { name: 'Starting your node…' })).toBeTruthy()
    // the replica opens and is found empty (slow on a loaded machine), and the node is asked again
    const asked = desktop.asked()
    await vi.waitFor(() => {
      expect(stores).toHaveLength(1)
      expect(stores[0]?.empty).toBe(true)
      expect(desktop.asked()).toBeGreaterThan(asked + 1)
    }, { timeout: 10_000, interval: 50 })
    expect(screen.getByRole('heading', { name: 'Starting your node…' })).toBeTruthy()
    expect(screen.queryByRole('navigation', { name: 'Pages' })).toBeNull()

    desktop.states.push(READY)
    await act(async () => { desktop.nodeRuns() })
    await screen.findByText('Live', {}, { timeout: 3000 })
    expect(balance()).toBe('2.5 kWh')
  })

  it('shows the unlock, first-run and failed screens, not the stored state, when the node needs them', async () => {
    await earlierRun(fixtureDoc())
    const screens: Array<[NodeState, string]> = [
      [{ state: 'locked', keychain: false, reason: 'this system has no keychain' }, 'Unlock your node'],
      [{ state: 'setup-needed', keychain: true }, 'Join your island\'s grid'],
      [{ state: 'failed', message: 'the node was stopped' }, 'Your node could not start']
    ]
    for (const [state, heading] of screens) {
      cleanup()
      renderRoot(fakeDesktop({ state: 'starting' }, state), nodeStream('epoch-1', fixtureDoc()))
      await screen.findByLabelText('Your balance')
      expect(await screen.findByRole('heading', { name: heading }, { timeout: 2000 })).toBeTruthy()
      expect(screen.queryByRole('navigation', { name: 'Pages' })).toBeNull()
    }
  })
})
