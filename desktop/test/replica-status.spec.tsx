import { describe, expect, it } from 'vitest'
import { ReplicaStore, type ReplicaComponents } from '../renderer/src/data/replica.ts'

describe('ReplicaStore status', () => {
  it('tells listeners of a status change without a new version; a doc change makes one', async () => {
    const meta = new Map<string, string>()
    const components: ReplicaComponents = {
      openStream: async () => { throw new TypeError('fetch failed') },
      persist: () => ({ whenSynced: Promise.resolve(), destroy: async () => {}, clearData: async () => {} }),
      meta: { getItem: key => meta.get(key) ?? null, setItem: (key, value) => { meta.set(key, value) } },
      now: () => 1_767_240_000_000
    }
    const store = await ReplicaStore.open(components, { name: 'status-test', backoffMs: 1_000 })
    let heard = 0
    store.subscribe(() => { heard++ })
    const version = store.version()
    store.start()
    const end = Date.now() + 2_000
    while (store.status().state !== 'offline' && Date.now() < end) await new Promise(resolve => setTimeout(resolve, 5))
    expect(store.status().state).toBe('offline')
    expect(heard).toBeGreaterThan(0)
    expect(store.version()).toBe(version)
    store.doc.getMap('accounts').set('mg1a', { id: 'mg1a' })
    expect(store.version()).toBe(version + 1)
    await store.stop()
  })
})
