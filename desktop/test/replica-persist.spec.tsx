import 'fake-indexeddb/auto'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { persistIndexedDb } from '../renderer/src/data/replica.ts'

const updateListeners = (doc: Y.Doc): number => (doc as unknown as { _observers: Map<string, Set<unknown>> })._observers.get('update')?.size ?? 0

describe('persistIndexedDb', () => {
  it('loads the stored state without listening to the doc, then stores every later change', async () => {
    const first = new Y.Doc()
    const stored = persistIndexedDb('persist-1', first)
    await stored.whenSynced
    first.getMap('accounts').set('mg1a', { id: 'mg1a', balanceWh: 1000 })
    await new Promise(resolve => setTimeout(resolve, 20))
    await stored.destroy()

    const second = new Y.Doc()
    const loading = persistIndexedDb('persist-1', second)
    // While the stored state is applied nobody listens for updates, so Yjs does not encode it again.
    expect(updateListeners(second)).toBe(0)
    await loading.whenSynced
    expect(second.getMap('accounts').toJSON()).toEqual({ mg1a: { id: 'mg1a', balanceWh: 1000 } })
    expect(updateListeners(second)).toBe(1)
    second.getMap('accounts').set('mg1b', { id: 'mg1b', balanceWh: 5 })
    await new Promise(resolve => setTimeout(resolve, 20))
    await loading.destroy()

    const third = new Y.Doc()
    const reopened = persistIndexedDb('persist-1', third)
    await reopened.whenSynced
    expect(third.getMap('accounts').toJSON()).toEqual({ mg1a: { id: 'mg1a', balanceWh: 1000 }, mg1b: { id: 'mg1b', balanceWh: 5 } })
    await reopened.destroy()
  })

  it('does not listen to a doc whose persistence was destroyed before it loaded', async () => {
    const doc = new Y.Doc()
    const persistence = persistIndexedDb('persist-2', doc)
    await persistence.destroy()
    await new Promise(resolve => setTimeout(resolve, 20))
    expect(updateListeners(doc)).toBe(0)
  })
})
