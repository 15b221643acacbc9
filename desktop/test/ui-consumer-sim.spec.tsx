// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { act, cleanup, fireEvent, screen } from '@testing-library/react'
import { ConsumerSimulator } from '../renderer/src/pages/ConsumerSimulator.tsx'
import type { Device } from '../renderer/src/data/types.ts'
import { ids, mockApi, NOW, renderWithReplica, type ApiCall } from './ui-fixture.tsx'

let api: ReturnType<typeof mockApi>
let answer: (call: ApiCall) => { status?: number, body: unknown } | undefined

beforeEach(() => {
  window.location.hash = '#/consumer-sim'
  answer = () => undefined
  api = mockApi(call => answer(call))
})
afterEach(() => { cleanup(); api.restore() })

const bulb = (): HTMLButtonElement => screen.getByRole('button', { name: /^Bulb switch/ })
/** A lit bulb has a glow around it. */
const glows = (): boolean => bulb().querySelector('circle') !== null

describe('Consumer simulator', () => {
  it('lights the bulb while the meter reports its relay on and power drawn, and turns the meter', () => {
    renderWithReplica(<ConsumerSimulator now={() => NOW} />)
    expect(bulb().getAttribute('aria-pressed')).toBe('true')
    expect(glows()).toBe(true)
    expect(screen.getByRole('status', { name: 'Bulb state' }).textContent).toMatch(/^Lit, drawing 40 W: until about/)
    expect(screen.getByLabelText('Meter reading').textContent).toBe('00000.300 kWh')
    expect(screen.getByText('Turning: 40 W')).toBeTruthy()
  })

  it('goes dark when the funds run out and the relay opens', () => {
    const { doc } = renderWithReplica(<ConsumerSimulator now={() => NOW} />)
    act(() => {
      const d = doc.getMap<Device>('devices').get(ids.household)!
      doc.getMap('devices').set(ids.household, {
        ...d,
        funds: { ...d.funds, usableNowWh: 0, balanceWh: 0, burnedWh: 1000 },
        meter: { ...d.meter!, relay: false, reason: 'no-funds', usableWh: 0 }
      })
      doc.getArray('recent').push([{ status: 'applied', id: 'b1', kind: 'burn', author: ids.household, seq: 9, ts: NOW - 5000 }])
    })
    expect(screen.getByRole('status', { name: 'Bulb state' }).textContent).toContain('Dark: the funds ran out')
    expect(screen.getByLabelText('Meter reading').textContent).toBe('00001.000 kWh')
    expect(screen.getByText('Still: no power drawn')).toBeTruthy()
    expect(screen.getByRole('list', { name: 'Recent burns' }).textContent).toContain('Burn 5 s ago')
    // a meter's burns are as large as it is set to sign: no fixed size is claimed
    expect(screen.getByRole('heading', { name: 'Burns signed by its meter' })).toBeTruthy()
    expect(document.body.textContent).not.toMatch(/one per kWh/)
    // nor a maximum: the meter's step (whPerOp) is any whole number of Wh, 1 kWh by default
    expect(document.body.textContent).toContain('in whole steps set on the meter (1 kWh unless set otherwise, any whole number of Wh)')
  })

  it('switches the simulated load through the API when the bulb is clicked, and shows the switch the node reports', async () => {
    let on = true
    const meter = (): object => ({ id: ids.household, role: 'consumption', label: 'household 0', on, powerW: 40, relay: true, meteredWh: 300 })
    answer = call => {
      if (call.method === 'GET' && call.path === '/simulator') return { body: { meters: [meter()] } }
      if (call.method === 'POST' && call.path === '/simulator/switch') { on = (call.body as { on: boolean }).on; return { body: meter() } }
      return undefined
    }
    renderWithReplica(<ConsumerSimulator now={() => NOW} />)
    await act(async () => { await new Promise(resolve => setTimeout(resolve, 0)) })
    fireEvent.click(bulb())
    await screen.findByText('household 0: load switched off.')
    expect(api.calls.filter(c => c.method === 'POST')).toEqual([expect.objectContaining({ path: '/simulator/switch', body: { meter: ids.household, on: false } })])
    expect(bulb().getAttribute('aria-pressed')).toBe('false')
    expect(screen.getByRole('status', { name: 'Bulb state' }).textContent).toBe('On, but the load is switched off: nothing is drawn.')
  })

  it('switches a dark bulb\'s load on through the API, and lights it when the meter reports power drawn', async () => {
    let on = false
    const meter = (): object => ({ id: ids.household, role: 'consumption', label: 'household 0', on, powerW: 40, relay: true, meteredWh: 300 })
    answer = call => {
      if (call.method === 'GET' && call.path === '/simulator') return { body: { meters: [meter()] } }
      if (call.method === 'POST' && call.path === '/simulator/switch') { on = (call.body as { on: boolean }).on; return { body: meter() } }
      return undefined
    }
    const { doc } = renderWithReplica(<ConsumerSimulator now={() => NOW} />)
    const household = doc.getMap<Device>('devices').get(ids.household)!
    act(() => { doc.getMap('devices').set(ids.household, { ...household, meter: { ...household.meter!, watts: 0 } }) })
    await act(async () => { await new Promise(resolve => setTimeout(resolve, 0)) })
    expect(bulb().getAttribute('aria-pressed')).toBe('false')
    expect(bulb().getAttribute('aria-label')).toBe('Bulb switch: off (click to switch on)')
    expect(screen.getByRole('status', { name: 'Bulb state' }).textContent).toBe('On, but the load is switched off: nothing is drawn.')

    fireEvent.click(bulb())
    await screen.findByText('household 0: load switched on.')
    expect(api.calls.filter(c => c.method === 'POST')).toEqual([expect.objectContaining({ path: '/simulator/switch', body: { meter: ids.household, on: true } })])
    expect(bulb().getAttribute('aria-pressed')).toBe('true')
    expect(screen.getByRole('status', { name: 'Bulb state' }).textContent).toBe('On: the load is switched on, power starts to flow.')
    expect(screen.getByText('Still: no power drawn')).toBeTruthy()

    act(() => { doc.getMap('devices').set(ids.household, household) })
    expect(screen.getByRole('status', { name: 'Bulb state' }).textContent).toMatch(/^Lit, drawing 40 W: until about/)
    expect(screen.getByText('Turning: 40 W')).toBeTruthy()
  })

  it('shows a switched-off load\'s bulb dark and its meter still while the meter still reports power (its estimate falls slowly)', async () => {
    answer = call => call.method === 'GET' && call.path === '/simulator'
      ? { body: { meters: [{ id: ids.household, role: 'consumption', label: 'household 0', on: false, powerW: 0, relay: true, meteredWh: 300 }] } }
      : undefined
    const { doc } = renderWithReplica(<ConsumerSimulator now={() => NOW} />)
    // Before the simulation is read the bulb follows the meter's report alone: lit.
    expect(glows()).toBe(true)
    await act(async () => { await new Promise(resolve => setTimeout(resolve, 0)) })
    // The meter's last report still says 40 W through a closed relay.
    expect(doc.getMap<Device>('devices').get(ids.household)?.meter).toMatchObject({ relay: true, watts: 40 })
    expect(bulb().getAttribute('aria-pressed')).toBe('false')
    expect(screen.getByRole('status', { name: 'Bulb state' }).textContent).toBe('On, but the load is switched off: nothing is drawn.')
    expect(glows()).toBe(false)
    expect(screen.getByText('Still: no power drawn')).toBeTruthy()
  })

  it('says so in words when the node hosts no simulation, and keeps showing the real state', async () => {
    answer = call => call.path === '/simulator' ? { status: 501, body: { error: { code: 'no-simulator', message: 'this node hosts no simulated meters' } } } : undefined
    renderWithReplica(<ConsumerSimulator now={() => NOW} />)
    expect(await screen.findByText(/This node hosts no simulated meters/)).toBeTruthy()
    expect(bulb().disabled).toBe(true)
    expect(bulb().getAttribute('aria-pressed')).toBe('true')
    expect(api.calls.filter(c => c.method === 'POST')).toEqual([])
  })

  it('picks another device, which has no meter report yet', () => {
    renderWithReplica(<ConsumerSimulator now={() => NOW} />)
    fireEvent.change(screen.getByLabelText('Device'), { target: { value: ids.lamp } })
    expect(screen.getByRole('heading', { name: 'Plaza lamp' })).toBeTruthy()
    expect(screen.getByRole('status', { name: 'Bulb state' }).textContent).toBe('Its meter has not reported to this node yet.')
    expect(bulb().disabled).toBe(true)
  })
})
