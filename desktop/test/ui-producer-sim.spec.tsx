// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { act, cleanup, fireEvent, screen, waitFor } from '@testing-library/react'
import { ProducerSimulator, whPerSecond } from '../renderer/src/pages/ProducerSimulator.tsx'
import { NOW, ids, mockApi, renderWithReplica, type ApiCall } from './ui-fixture.tsx'

const meter = 'mg1q08x7hw376d9f0lpnz3p09m5quu5gmj70akvtq0muu9rdl02cepnxcux5tc'
let restore = (): void => {}
beforeEach(() => { vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] }) })
afterEach(() => { cleanup(); restore(); vi.useRealTimers() })

function node (mint: (call: ApiCall) => { status?: number, body: unknown } | undefined) {
  return mockApi(call => {
    if (call.path === `/accounts/${ids.producer}`) return { body: { id: ids.producer, registration: { role: 'producer', capacityW: 30_000, meter } } }
    if (call.path === `/accounts/${meter}`) return { body: { id: meter, meter: { readingWh: 52_000, mintedWh: 52_000, burnedWh: 0 } } }
    if (call.path === '/actions/mint') return mint(call)
    return undefined
  })
}

const tick = (ms: number): void => { act(() => { vi.advanceTimersByTime(ms) }) }

describe('producer simulator', () => {
  it('runs at a minute of full sun a second, at most 1 kWh a second', () => {
    expect(whPerSecond(30_000)).toBe(500)
    expect(whPerSecond(120_000)).toBe(1000)
  })

  it('brings out the sun on a click, ticks the produced kWh and mints every whole kWh for the panel\'s meter', async () => {
    const api = node(() => ({ body: { status: 'applied', id: 'ab', kind: 'mint', author: meter, seq: 4, ts: NOW } }))
    restore = api.restore
    renderWithReplica(<ProducerSimulator />)
    await screen.findByText('52 kWh')
    expect(screen.getByText('30 kW')).toBeTruthy()
    expect(screen.queryByTestId('sun')).toBeNull()

    const panel = screen.getByRole('button', { name: 'Let the sun shine on Rooftop 0\'s solar panel' })
    fireEvent.click(panel)
    expect(screen.getByTestId('sun')).toBeTruthy()
    expect(screen.getByRole('button', { name: 'Cloud over Rooftop 0\'s solar panel' }).getAttribute('aria-pressed')).toBe('true')

    tick(1000)
    expect(screen.getByTestId('produced').textContent).toBe('0.5 kWh')
    expect(api.calls.filter(c => c.path === '/actions/mint')).toHaveLength(0)
    tick(1200)
    expect(screen.getByTestId('produced').textContent).toBe('1.1 kWh')
    await waitFor(() => { expect(screen.getByTestId('minted').textContent).toBe('1 kWh') })
    expect(api.calls.filter(c => c.path === '/actions/mint').map(c => c.body)).toEqual([{ meter, wh: 1000 }])

    tick(2000)
    await waitFor(() => { expect(screen.getByTestId('minted').textContent).toBe('2 kWh') })
    expect(api.calls.filter(c => c.path === '/actions/mint')).toHaveLength(2)

    fireEvent.click(screen.getByRole('button', { name: 'Cloud over Rooftop 0\'s solar panel' }))
    expect(screen.queryByTestId('sun')).toBeNull()
    tick(5000)
    expect(screen.getByTestId('produced').textContent).toBe('2.1 kWh')
    expect(api.calls.filter(c => c.path === '/actions/mint')).toHaveLength(2)
  })

  it('says which endpoint is missing when the node cannot mint, and stops the sun', async () => {
    restore = node(() => undefined).restore
    renderWithReplica(<ProducerSimulator />)
    await screen.findByText('52 kWh')
    fireEvent.click(screen.getByRole('button', { name: /Let the sun shine/ }))
    tick(2200)
    const alert = await screen.findByRole('alert')
    expect(alert.textContent).toMatch(/POST \/api\/v1\/actions\/mint/)
    expect(screen.queryByTestId('sun')).toBeNull()
    expect(screen.getByTestId('minted').textContent).toBe('0 kWh')
  })

  it('shows the ledger\'s refusal of an implausible mint', async () => {
    restore = node(() => ({ status: 422, body: { error: { code: 'implausible-mint', message: '90000 Wh since registration exceed what 30000 W produce' } } })).restore
    renderWithReplica(<ProducerSimulator />)
    await screen.findByText('52 kWh')
    fireEvent.click(screen.getByRole('button', { name: /Let the sun shine/ }))
    tick(2200)
    expect((await screen.findByRole('alert')).textContent).toMatch(/exceed what 30000 W produce/)
  })
})
