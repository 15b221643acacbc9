// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest'
import { act, cleanup, fireEvent, screen, waitFor } from '@testing-library/react'
import { ProducerSimulator } from '../renderer/src/pages/ProducerSimulator.tsx'
import type { SimulatedMeter } from '../renderer/src/data/api.ts'
import { fixtureAccounts, fixtureStatus, ids, mockApi, renderWithReplica } from './ui-fixture.tsx'

const meter = 'mg1q08x7hw376d9f0lpnz3p09m5quu5gmj70akvtq0muu9rdl02cepnxcux5tc'
let restore = (): void => {}
afterEach(() => { cleanup(); restore() })

/** A node hosting the producer's simulated panel: switching it on makes it produce on the next read. */
function islandNode (options: { simulator?: boolean } = {}) {
  const panel: SimulatedMeter = { id: meter, role: 'generation', label: 'Rooftop 0', on: false, powerW: 90_000, relay: null, meteredWh: 5_210 }
  let mintedWh = 5_000
  const api = mockApi(call => {
    if (call.path === `/accounts/${ids.producer}`) return { body: { id: ids.producer, registration: { role: 'producer', capacityW: 120_000, meter } } }
    if (call.path === `/accounts/${meter}`) return { body: { id: meter, meter: { readingWh: mintedWh, mintedWh, burnedWh: 0 } } }
    if (options.simulator === false && call.path.startsWith('/simulator')) return { status: 501, body: { error: { code: 'no-simulator', message: 'this node hosts no simulated meters' } } }
    if (call.path === '/simulator') {
      if (panel.on) { panel.meteredWh += 1_500; mintedWh += 1_500 }
      return { body: { meters: [{ ...panel }] } }
    }
    if (call.path === '/simulator/switch') { panel.on = (call.body as { on: boolean }).on; return { body: { ...panel } } }
    return undefined
  })
  restore = api.restore
  return api
}

describe('producer simulator', () => {
  it('brings out the sun on a click, switching the island\'s simulated panel, and shows what it produced and minted', async () => {
    const api = islandNode()
    const { doc } = renderWithReplica(<ProducerSimulator />)
    await waitFor(() => { expect(screen.getByTestId('produced').textContent).toBe('5.21 kWh') })
    await waitFor(() => { expect(screen.getByTestId('minted').textContent).toBe('5 kWh') })
    expect(screen.getByText('90 kW')).toBeTruthy()
    expect(screen.queryByTestId('sun')).toBeNull()

    fireEvent.click(screen.getByRole('button', { name: 'Let the sun shine on Rooftop 0\'s solar panel' }))
    await screen.findByTestId('sun')
    expect(screen.getByRole('button', { name: 'Cloud over Rooftop 0\'s solar panel' }).getAttribute('aria-pressed')).toBe('true')
    expect(api.calls.filter(c => c.method === 'POST').map(c => [c.path, c.body])).toEqual([['/simulator/switch', { meter, on: true }]])

    // The panel's meter mints; the producer's balance moves in the replica, and the page reads the meter again.
    await waitFor(() => { expect(screen.getByTestId('produced').textContent).toBe('6.71 kWh') }, { timeout: 2500 })
    act(() => { doc.getMap('accounts').set(ids.producer, { ...doc.getMap<any>('accounts').get(ids.producer), balanceWh: 11_500 }) })
    await waitFor(() => { expect(screen.getByTestId('minted').textContent).toBe('6.5 kWh') })
    expect(screen.getByText('11.5 kWh')).toBeTruthy()

    fireEvent.click(screen.getByRole('button', { name: 'Cloud over Rooftop 0\'s solar panel' }))
    await waitFor(() => { expect(screen.queryByTestId('sun')).toBeNull() })
    expect(api.calls.filter(c => c.method === 'POST').at(-1)!.body).toEqual({ meter, on: false })
  })

  it('says so on a node without simulated panels, and the panel cannot be switched', async () => {
    const api = islandNode({ simulator: false })
    renderWithReplica(<ProducerSimulator />)
    await screen.findByText(/This node runs no simulated panels/)
    expect((screen.getByRole('button', { name: /Let the sun shine/ }) as HTMLButtonElement).disabled).toBe(true)
    expect(screen.queryByRole('alert')).toBeNull()
    expect(api.calls.filter(c => c.method === 'POST')).toHaveLength(0)
  })

  it('opens on this node\'s own producer when it holds one, whatever the order of the list', () => {
    islandNode()
    const other = { ...fixtureAccounts().find(a => a.id === ids.producer)!, id: 'mg1qqqqfirstproducerbyid', label: 'Another rooftop' }
    const status = { ...fixtureStatus(), signers: [{ name: 'producer', account: ids.producer, roles: ['producer'] }] }
    renderWithReplica(<ProducerSimulator />, { fixture: { status, accounts: [other, ...fixtureAccounts()] } })
    expect((screen.getByLabelText('Producer') as HTMLSelectElement).value).toBe(ids.producer)
  })
})

