// @vitest-environment happy-dom
import { act, renderHook } from '@testing-library/react'
import type { ReactNode } from 'react'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { ReplicaProvider, useDevices } from '../renderer/src/data/hooks.tsx'
import { staticReplica, type ReplicaView } from '../renderer/src/data/replica.ts'

const device = (id: string, label: string | null): Record<string, unknown> => ({ id, label })

function wrapperOf (replica: ReplicaView): (props: { children: ReactNode }) => ReactNode {
  return ({ children }) => <ReplicaProvider replica={replica}>{children}</ReplicaProvider>
}

describe('list hooks', () => {
  it('sort devices by label then id as localeCompare does, one array shared by every reader until the doc changes', () => {
    const doc = new Y.Doc()
    const devices = doc.getMap('devices')
    for (const [id, label] of [['d3', 'Étable'], ['d1', 'b lamp'], ['d2', 'B lamp'], ['d4', null], ['d0', 'b lamp']] as const) devices.set(id, device(id, label))
    const replica = staticReplica(doc)
    const { result } = renderHook(() => ({ a: useDevices(), b: useDevices() }), { wrapper: wrapperOf(replica) })
    const expected = (): string[] => [...devices.values() as Iterable<{ id: string, label: string | null }>]
      .sort((x, y) => (x.label ?? '').localeCompare(y.label ?? '') || x.id.localeCompare(y.id)).map(d => d.id)
    expect(result.current.a.map(d => d.id)).toEqual(expected())
    expect(expected()).toEqual(['d4', 'd0', 'd1', 'd2', 'd3'])
    expect(result.current.b).toBe(result.current.a)

    const before = result.current.a
    act(() => { devices.set('d5', device('d5', 'a fan')) })
    expect(result.current.a).not.toBe(before)
    expect(result.current.a.map(d => d.id)).toEqual(['d4', 'd5', 'd0', 'd1', 'd2', 'd3'])
    expect(result.current.b).toBe(result.current.a)
  })
})
