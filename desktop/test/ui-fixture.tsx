// Component test helper: a ReplicaProvider over an in-memory Y.Doc filled with fixture data, and a
// fetch mock for the node API that records every call. Use in `// @vitest-environment happy-dom` specs.
import type { ReactNode } from 'react'
import { render, type RenderResult } from '@testing-library/react'
import * as Y from 'yjs'
import { vi } from 'vitest'
import { ReplicaProvider } from '../renderer/src/data/hooks.tsx'
import { staticReplica, type ReplicaStatus, type ReplicaView } from '../renderer/src/data/replica.ts'
import { setConnection } from '../renderer/src/data/connection.ts'
import { ToastProvider } from '../renderer/src/components/Toasts.tsx'
import type { Account, Device, Fork, FrozenAccount, Price, Receipt, RecentOp, Status } from '../renderer/src/data/types.ts'

export const NOW = 1_767_240_012_000
export const API_URL = 'http://node.test'
export const TOKEN = 'test-token-123'

export const ids = {
  grid: 'mgrid1hxx54d4amkau70cj9yaweldvj5rklmn0335l5h0p4yuuxvavfzsske4j4s',
  resident: 'mg1qvv6tug70f5sg4jw03ljuhzxsnsd0pxq00r0je4xysrzj94vsrtlv5j4tp9',
  neighbour: 'mg1qw06thry0lv0mntrnz8pvvst3ta8rf9eznmr4w5fjnp077kgex5zshcendc',
  utility: 'mg1q0fspz7m5uvzpxls8cfjym5kps5p5agajfzvpzwsqf54k56k35e3jypxjat',
  producer: 'mg1qwdfq9jk5yyrvqdm5m0204d5rr3ayh6fcrk6v5y3h68wnr87lfzgk8pksdh',
  oracle: 'mg1qtlhxdwvrwyutlrt0rh26v4updq5n2vfe4569sgkdjw2ajuy8j0u200qsma',
  household: 'mg1q23qrwc2mkz3033wnduuy30dlqcd80mcer9ggn8er7d2xm0qdw70sey96dw',
  lamp: 'mg1qf9uc6kadnpr9a4w4gppcrl5lsmyn4auxskh7erfzx5p4sxd4hz9qhsc7nn'
} as const

const USD = { code: 'USD', digits: 2 }

export function fixtureStatus (): Status {
  return {
    peerId: '12D3KooWQqmtgYxJZanaEUVgfaKk7uT6c1rtYWMMXnb9AQdTDdsf',
    addresses: [],
    grid: { id: ids.grid, name: 'Isla', currency: USD },
    peers: [{ id: '12D3KooWAb', addresses: ['/ip4/127.0.0.1/tcp/4101'] }],
    ops: { decided: 22, pending: 0 },
    stateHash: '6197de384a8a3bf5cbd18dd1e21cf967f35a8b823241a74d9fef2838c611d146',
    sync: { missing: 0, lastPull: null, target: null },
    forks: 0,
    frozen: 0,
    supply: { mintedWh: 20000, burnedWh: 300 },
    signers: [
      { name: 'resident', account: ids.resident, roles: ['resident'] },
      { name: 'neighbour', account: ids.neighbour, roles: ['resident'] },
      { name: 'utility', account: ids.utility, roles: ['utility'] }
    ],
    time: NOW,
    updatedAt: NOW
  }
}

const account = (id: string, role: Account['role'], label: string | null, balanceWh: number): Account =>
  ({ id, role, roles: [role], label, balanceWh, spendableWh: balanceWh, ops: 2, frozen: false })

export function fixtureAccounts (): Account[] {
  return [
    account(ids.resident, 'resident', null, 2500),
    account(ids.neighbour, 'resident', null, 400),
    account(ids.utility, 'utility', 'Island Power & Light', 6000),
    account(ids.producer, 'producer', 'Rooftop 0', 10000),
    account(ids.household, 'consumer', 'household 0', 700),
    account(ids.lamp, 'consumer', 'Plaza lamp', 0)
  ]
}

export function fixtureDevices (): Device[] {
  return [
    {
      id: ids.household,
      label: 'household 0',
      category: 'household',
      position: { lat: 18.2, lon: -66.5 },
      qr: `microgrid:${ids.household}?grid=${ids.grid}`,
      frozen: false,
      funds: {
        at: NOW, usableNowWh: 700, generalWh: 700, balanceWh: 700, burnedWh: 300, nextChange: null, windows: [],
        funders: [{ funder: ids.resident, putWh: 1000, burnedWh: 300, returnedWh: 0, heldWh: 700 }]
      },
      meter: {
        at: NOW - 500, relay: true, reason: 'funded', usableWh: 700, daysRemaining: 2.5,
        watts: 40, warnings: [1000], faults: [], queuedWh: 0, peer: '12D3KooWMeter'
      }
    },
    {
      id: ids.lamp,
      label: 'Plaza lamp',
      category: 'street-light',
      position: { lat: 18.21, lon: -66.49 },
      qr: `microgrid:${ids.lamp}?grid=${ids.grid}`,
      frozen: false,
      funds: { at: NOW, usableNowWh: 0, generalWh: 0, balanceWh: 0, burnedWh: 0, nextChange: null, windows: [], funders: [] },
      meter: null
    }
  ]
}

export function fixturePrices (): Price[] {
  return [
    { account: ids.utility, role: 'utility', label: 'Island Power & Light', wholesale: null, retail: { minorPerMWh: 12500, dollarsPerKWh: 0.125 } },
    { account: ids.producer, role: 'producer', label: 'Rooftop 0', wholesale: { minorPerMWh: 8000, dollarsPerKWh: 0.08 }, retail: { minorPerMWh: 12000, dollarsPerKWh: 0.12 } }
  ]
}

export interface Fixture {
  status?: Status | null
  accounts?: Account[]
  devices?: Device[]
  prices?: Price[]
  receipts?: Receipt[]
  forks?: Record<string, Fork | FrozenAccount>
  recent?: RecentOp[]
}

/** A Y.Doc laid out as the node's replica (the replica channel contract), filled with the fixture. */
export function fixtureDoc (fixture: Fixture = {}): Y.Doc {
  const doc = new Y.Doc()
  doc.transact(() => {
    const status = fixture.status === undefined ? fixtureStatus() : fixture.status
    if (status !== null) for (const [key, value] of Object.entries(status)) doc.getMap('status').set(key, value)
    for (const a of fixture.accounts ?? fixtureAccounts()) doc.getMap('accounts').set(a.id, a)
    for (const d of fixture.devices ?? fixtureDevices()) doc.getMap('devices').set(d.id, d)
    for (const p of fixture.prices ?? fixturePrices()) doc.getMap('prices').set(p.account, p)
    for (const r of fixture.receipts ?? []) doc.getMap('receipts').set(`${r.oracle}.${r.seq}`, r)
    for (const [key, f] of Object.entries(fixture.forks ?? {})) doc.getMap('forks').set(key, f)
    doc.getArray('recent').push(fixture.recent ?? [])
  })
  return doc
}

export interface ApiCall { method: string, path: string, body: unknown, headers: Record<string, string> }
export type ApiHandler = (call: ApiCall) => { status?: number, body: unknown } | undefined

/**
 * Replaces fetch with a mock of the node API at API_URL: `handler` answers a call (return undefined
 * for a 404 not-found); every call is recorded in `calls` with its path under /api/v1 and parsed body.
 */
export function mockApi (handler: ApiHandler = () => undefined): { calls: ApiCall[], restore: () => void } {
  setConnection({ url: API_URL, token: TOKEN })
  const calls: ApiCall[] = []
  const spy = vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url)
    const headers = Object.fromEntries([...new Headers(init?.headers).entries()].map(([k, v]) => [k.toLowerCase(), v]))
    const body = typeof init?.body === 'string' ? JSON.parse(init.body) as unknown : undefined
    const call: ApiCall = { method: init?.method ?? 'GET', path: url.pathname.replace(/^\/api\/v1/, '') + url.search, body, headers }
    calls.push(call)
    const answer = handler(call) ?? { status: 404, body: { error: { code: 'not-found', message: `no route ${call.path}` } } }
    return new Response(JSON.stringify(answer.body), { status: answer.status ?? 200, headers: { 'Content-Type': 'application/json' } })
  })
  return { calls, restore: () => { spy.mockRestore() } }
}

/** Renders `ui` inside a ReplicaProvider (over `doc`, or a fixture doc) and the toasts. */
export function renderWithReplica (
  ui: ReactNode, options: { doc?: Y.Doc, fixture?: Fixture, status?: ReplicaStatus } = {}
): RenderResult & { doc: Y.Doc, replica: ReplicaView } {
  const doc = options.doc ?? fixtureDoc(options.fixture)
  const replica = staticReplica(doc, options.status)
  const result = render(
    <ReplicaProvider replica={replica}>
      <ToastProvider>{ui}</ToastProvider>
    </ReplicaProvider>
  )
  return { ...result, doc, replica }
}
