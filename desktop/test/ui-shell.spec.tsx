// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest'
import { act, cleanup, render, screen } from '@testing-library/react'
import { StatusBar } from '../renderer/src/components/StatusBar.tsx'
import { ReplicaProvider, useAccounts, useDevice, useForks, useRecent, useStatus } from '../renderer/src/data/hooks.tsx'
import { staticReplica, type ReplicaStatus } from '../renderer/src/data/replica.ts'
import { ApiError, apiGet, apiPost } from '../renderer/src/data/api.ts'
import { takeTokenFromFragment } from '../renderer/src/data/connection.ts'
import { age, kwh, money, untilAbout, whForPayment } from '../renderer/src/data/format.ts'
import { fixtureDoc, ids, mockApi, renderWithReplica, TOKEN } from './ui-fixture.tsx'

afterEach(() => { cleanup() })

function Probe (): React.ReactNode {
  const status = useStatus()
  const accounts = useAccounts()
  const device = useDevice(ids.household)
  const recent = useRecent()
  const { forks, frozen } = useForks()
  return (
    <ul>
      <li>grid {status?.grid.name}</li>
      <li>accounts {accounts.length}</li>
      <li>device {device?.label} {device?.funds.usableNowWh}</li>
      <li>recent {recent.map(op => op.seq).join(',')}</li>
      <li>forks {forks.length} frozen {frozen.length}</li>
    </ul>
  )
}

describe('replica hooks', () => {
  it('read the doc and re-render when it changes', () => {
    const doc = fixtureDoc({ recent: [{ status: 'applied', id: 'a', kind: 'transfer', author: ids.resident, seq: 1, ts: 1 }] })
    render(<ReplicaProvider replica={staticReplica(doc)}><Probe /></ReplicaProvider>)
    expect(screen.getByText('grid Isla')).toBeTruthy()
    expect(screen.getByText('accounts 6')).toBeTruthy()
    expect(screen.getByText('device household 0 700')).toBeTruthy()
    act(() => {
      const device = doc.getMap<any>('devices').get(ids.household)
      doc.getMap('devices').set(ids.household, { ...device, funds: { ...device.funds, usableNowWh: 650 } })
      doc.getArray('recent').push([{ status: 'applied', id: 'b', kind: 'burn', author: ids.household, seq: 2, ts: 2 }])
      doc.getMap('forks').set(`${ids.lamp}.0`, { author: ids.lamp, label: null, seq: 0, ids: ['x', 'y'], ops: ['aa', 'bb'], lifted: false })
      doc.getMap('forks').set(`frozen.${ids.lamp}`, { account: ids.lamp, label: null, frozenFrom: 0 })
    })
    expect(screen.getByText('device household 0 650')).toBeTruthy()
    expect(screen.getByText('recent 2,1')).toBeTruthy()
    expect(screen.getByText('forks 1 frozen 1')).toBeTruthy()
  })
})

describe('StatusBar', () => {
  it('says Live only when caught up; catching up, connecting and offline say from when what is shown is', () => {
    const seen = new Date(2026, 0, 1, 14, 2).getTime()
    const bar = (status: ReplicaStatus): HTMLElement => {
      cleanup()
      renderWithReplica(<StatusBar now={() => seen + 60_000} />, { status, fixture: { status: null } })
      return screen.getByRole('status', { name: 'Connection' })
    }
    expect(bar({ state: 'live', lastUpdate: seen }).textContent).toBe('Live')
    expect(bar({ state: 'syncing', lastUpdate: seen }).textContent).toBe('Catching up with your node… showing what this app last saw at 14:02')
    expect(bar({ state: 'syncing', lastUpdate: null }).textContent).toBe('Catching up with your node…')
    expect(bar({ state: 'connecting', lastUpdate: seen }).textContent).toBe('Connecting… showing what this app last saw at 14:02')
    expect(bar({ state: 'connecting', lastUpdate: null }).textContent).toBe('Connecting to your node…')
    expect(bar({ state: 'offline', lastUpdate: seen }).textContent).toBe('Offline: showing what this app last saw at 14:02')
    expect(bar({ state: 'offline', lastUpdate: null }).textContent).toBe('Offline: your node does not answer yet')
  })

  it('names the grid and its connected neighbours', () => {
    renderWithReplica(<StatusBar />)
    expect(screen.getByRole('status', { name: 'Connection' }).textContent).toBe('LiveIsla · 1 neighbour connected')
  })
})

describe('api', () => {
  it('sends the bearer token and JSON body, and throws ApiError with the API error code and message', async () => {
    const api = mockApi(call => call.path === '/status' ? { body: { ok: 1 } } : { status: 422, body: { error: { code: 'insufficient-funds', message: '5000 Wh asked' } } })
    try {
      expect(await apiGet('/status')).toEqual({ ok: 1 })
      expect(api.calls[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`)
      const err = await apiPost('/actions/fund', { device: ids.lamp, wh: 5000 }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ApiError)
      expect(err).toMatchObject({ status: 422, code: 'insufficient-funds', message: '5000 Wh asked' })
      expect(api.calls[1]).toMatchObject({ method: 'POST', path: '/actions/fund', body: { device: ids.lamp, wh: 5000 } })
      expect(api.calls[1]?.headers['content-type']).toBe('application/json')
    } finally { api.restore() }
  })
})

describe('connection', () => {
  it('takes the token out of the fragment, keeps the route, and stores it', () => {
    window.history.replaceState(null, '', '/#/resident?token=abc123')
    expect(takeTokenFromFragment()).toBe('abc123')
    expect(window.location.hash).toBe('#/resident')
    expect(window.localStorage.getItem('microgrid.token')).toBe('abc123')
    window.history.replaceState(null, '', '/#token=zz9')
    expect(takeTokenFromFragment()).toBe('zz9')
    expect(window.location.hash).toBe('')
    expect(takeTokenFromFragment()).toBeNull()
  })

  it('asks the desktop app\'s preload again after it failed to answer, and keeps the answer it then gives', async () => {
    vi.resetModules() // a page's first connection() call: nothing asked yet
    const { connection } = await import('../renderer/src/data/connection.ts')
    let asked = 0
    window.microgrid = {
      connection: async () => {
        asked++
        if (asked === 1) throw new Error('the node is not running')
        return { url: 'http://127.0.0.1:4100', token: `token-${asked}` }
      }
    }
    try {
      // Callers while the first question is out share it and its failure.
      const failed = await Promise.allSettled([connection(), connection()])
      expect(failed.map(r => r.status === 'rejected' && String(r.reason))).toEqual(['Error: the node is not running', 'Error: the node is not running'])
      expect(asked).toBe(1)
      expect(await connection()).toEqual({ url: 'http://127.0.0.1:4100', token: 'token-2' })
      expect(await connection()).toEqual({ url: 'http://127.0.0.1:4100', token: 'token-2' })
      expect(asked).toBe(2)
    } finally {
      delete window.microgrid
    }
  })
})

describe('format', () => {
  it('speaks kWh, dollars, clock times and ages', () => {
    expect(kwh(2500)).toBe('2.5 kWh')
    expect(kwh(123456)).toBe('123 kWh')
    expect(money(1250, { code: 'USD', digits: 2 })).toBe('$12.50')
    expect(money(300, { code: 'JPY', digits: 0 })).toBe('¥300')
    const now = new Date(2026, 0, 1, 22, 10).getTime()
    expect(untilAbout(40, 40, now)).toBe('until about 23:10')
    expect(untilAbout(40 * 9, 40, now)).toBe('until about tomorrow 07:10')
    expect(untilAbout(100, 0, now)).toBeNull()
    expect(whForPayment(500, 12500)).toBe(40000)
    expect(age(now - 180_000, now)).toBe('3 min ago')
  })
})

