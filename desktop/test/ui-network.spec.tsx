// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest'
import { act, cleanup, fireEvent, screen, within } from '@testing-library/react'
import { tileSource } from '../renderer/src/data/tiles.ts'
import { NodeStartingProvider } from '../renderer/src/data/node-starting.tsx'
import type { ReplicaStatus } from '../renderer/src/data/replica.ts'
import { Network, syncProgress } from '../renderer/src/pages/Network.tsx'
import { NOW, fixtureStatus, renderWithReplica } from './ui-fixture.tsx'

afterEach(() => { cleanup(); localStorage.clear() })

describe('network page', () => {
  it('shows peers, the state hash, ops decided and pending, in sync', () => {
    renderWithReplica(<Network />, { status: { state: 'live', lastUpdate: Date.now() } })
    const s = fixtureStatus()
    expect(screen.getByTestId('state-hash').textContent).toBe(s.stateHash)
    expect(screen.getByRole('region', { name: 'Peers (1)' }).textContent).toContain('12D3KooWAb/ip4/127.0.0.1/tcp/4101')
    const sync = screen.getByRole('region', { name: 'Sync' })
    expect(within(sync).getByRole('status').textContent).toBe('✓ In sync: nothing known to be missing')
    expect(within(sync).getByRole('progressbar', { name: 'Sync progress' }).getAttribute('aria-valuenow')).toBe('100')
    expect(sync.textContent).toContain('Ops decided22')
    expect(sync.textContent).toContain('Last pullnone yet')
    expect(screen.getByText(/^live, last update just now$/)).toBeTruthy()
  })

  it('shows sync progress while ops wait for their past', () => {
    const { doc } = renderWithReplica(<Network />)
    act(() => {
      doc.getMap('status').set('ops', { decided: 60, pending: 30 })
      doc.getMap('status').set('sync', { missing: 10, lastPull: { peer: '12D3KooWPeerXYZ12345', received: 12, at: Date.now() - 120_000 } })
    })
    const sync = screen.getByRole('region', { name: 'Sync' })
    expect(within(sync).getByRole('status').textContent).toBe('Syncing: 60%')
    expect(within(sync).getByRole('progressbar').getAttribute('aria-valuenow')).toBe('60')
    expect(sync.textContent).toContain('12 ops from 12D3Koo…12345, 2 min ago')
    expect(syncProgress({ ops: { decided: 0, pending: 0 }, sync: { missing: 0, lastPull: null } })).toBe(1)
  })

  it('measures a sync under way against the count the serving peers said it leads to', () => {
    const { doc } = renderWithReplica(<Network />)
    act(() => {
      doc.getMap('status').set('ops', { decided: 2_500, pending: 0 })
      doc.getMap('status').set('sync', { missing: 0, lastPull: null, target: 10_000 })
    })
    const sync = screen.getByRole('region', { name: 'Sync' })
    expect(within(sync).getByRole('status').textContent).toBe('Syncing: 25%')
    expect(within(sync).getByRole('progressbar').getAttribute('aria-valuenow')).toBe('25')
    act(() => { doc.getMap('status').set('sync', { missing: 0, lastPull: null, target: null }) })
    expect(within(sync).getByRole('status').textContent).toBe('✓ In sync: nothing known to be missing')
  })

  it('says in words how this app\'s link to the node stands', () => {
    const lastUpdate = Date.now() - 180_000
    const link = (status: ReplicaStatus): string => {
      cleanup()
      renderWithReplica(<Network />, { status })
      return screen.getByText('This app’s link').nextElementSibling?.textContent ?? ''
    }
    expect(link({ state: 'syncing', lastUpdate })).toBe('catching up, last update 3 min ago')
    expect(link({ state: 'connecting', lastUpdate: null })).toBe('connecting')
    expect(link({ state: 'offline', lastUpdate })).toBe('offline, last update 3 min ago')

    // the desktop app while its node starts (NodeGate): until the node answers the replica
    const starting = (status: ReplicaStatus): string => {
      cleanup()
      renderWithReplica(<NodeStartingProvider starting><Network /></NodeStartingProvider>, { status })
      return screen.getByText('This app’s link').nextElementSibling?.textContent ?? ''
    }
    expect(starting({ state: 'connecting', lastUpdate })).toBe('waiting for the node to start, last update 3 min ago')
    expect(starting({ state: 'syncing', lastUpdate })).toBe('catching up, last update 3 min ago')
  })

  it('says so when no peer is connected, and when the node was never heard', () => {
    const alone = { ...fixtureStatus(), peers: [], time: NOW }
    const { unmount } = renderWithReplica(<Network />, { fixture: { status: alone } })
    expect(screen.getByText('No peers connected: this node holds only what it had.')).toBeTruthy()
    unmount()
    renderWithReplica(<Network />, { fixture: { status: null } })
    expect(screen.getByText('This app has not heard from its node yet.')).toBeTruthy()
  })

  it('keeps a map tile source the user sets (https, with {z}/{x}/{y}), refuses anything else, and goes back to the plan', () => {
    renderWithReplica(<Network />, { fixture: { status: fixtureStatus() } })
    const field = screen.getByLabelText(/Tile address/)
    fireEvent.change(field, { target: { value: 'http://tiles.example.org/{z}/{x}/{y}.png' } })
    fireEvent.click(screen.getByRole('button', { name: 'Save' }))
    expect(screen.getByRole('alert').textContent).toBe('The tile address must start with https://.')
    fireEvent.change(field, { target: { value: 'https://tiles.example.org/map.png' } })
    fireEvent.click(screen.getByRole('button', { name: 'Save' }))
    expect(screen.getByRole('alert').textContent).toMatch(/must hold \{z\}, \{x\} and \{y\}/)
    expect(tileSource()).toBeUndefined()
    fireEvent.change(field, { target: { value: ' https://tiles.example.org/{z}/{x}/{y}.png ' } })
    fireEvent.click(screen.getByRole('button', { name: 'Save' }))
    expect(tileSource()).toBe('https://tiles.example.org/{z}/{x}/{y}.png')
    expect(screen.queryByRole('alert')).toBeNull()
    fireEvent.click(screen.getByRole('button', { name: 'Use the plan only' }))
    expect(tileSource()).toBeUndefined()
  })
})

