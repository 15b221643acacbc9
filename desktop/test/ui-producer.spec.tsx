// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest'
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react'
import { Producer } from '../renderer/src/pages/Producer.tsx'
import type { Receipt } from '../renderer/src/data/types.ts'
import { NOW, fixtureStatus, ids, mockApi, renderWithReplica } from './ui-fixture.tsx'

const meter = 'mg1q08x7hw376d9f0lpnz3p09m5quu5gmj70akvtq0muu9rdl02cepnxcux5tc'
let restore = (): void => {}
afterEach(() => { cleanup(); restore() })

const receipt = (seq: number, over: Partial<Receipt>): Receipt => ({
  oracle: ids.oracle, seq, payer: ids.utility, payee: ids.producer, contract: 'wholesale-seller', amountMinor: 80, amountDollars: 0.8,
  currency: 'USD', paymentId: `p${seq}`, price: { minorPerMWh: 8000, dollarsPerKWh: 0.08 }, wh: 10_000, ts: NOW - 60_000, ageMs: 0,
  settled: true, settleable: false, reason: null, message: null, mine: null, ...over
})

const receipts = [
  receipt(1, {}),
  receipt(2, { amountMinor: 160, wh: 20_000 }),
  receipt(3, { payer: ids.resident, contract: 'retail-seller', amountMinor: 120, wh: 10_000, price: { minorPerMWh: 12000, dollarsPerKWh: 0.12 } }),
  receipt(4, { payer: ids.neighbour, contract: 'retail-seller', amountMinor: 60, wh: 5_000, settled: false, settleable: false, reason: 'insufficient-funds', ts: Date.now() - 3 * 60_000 }),
  receipt(5, { payee: ids.utility, payer: ids.resident, contract: 'retail-seller', settled: false })
]

function producerNode () {
  const status = fixtureStatus()
  status.signers.push({ name: 'producer', account: ids.producer, roles: ['producer'] })
  const api = mockApi(call => {
    if (call.path === `/accounts/${ids.producer}`) return { body: { id: ids.producer, registration: { role: 'producer', capacityW: 5000, meter } } }
    if (call.path === `/accounts/${meter}`) return { body: { id: meter, meter: { readingWh: 42_000, mintedWh: 42_000, burnedWh: 0 } } }
    if (call.path === '/actions/price') return { body: { status: 'applied', id: 'cd', kind: 'price', author: ids.producer, seq: 5, ts: NOW } }
    return undefined
  })
  restore = api.restore
  return { api, ...renderWithReplica(<Producer />, { fixture: { status, receipts } }) }
}

describe('producer page', () => {
  it('shows its prices, what its meter recorded, its sales to the utility and to neighbours', async () => {
    producerNode()
    expect(screen.getByRole('heading', { level: 1 }).textContent).toBe('Rooftop 0')
    const prices = screen.getByRole('region', { name: 'Prices' })
    expect(within(prices).getByText('$0.08 per kWh')).toBeTruthy()
    expect(within(prices).getByText('$0.12 per kWh')).toBeTruthy()
    const energy = screen.getByRole('region', { name: 'Energy' })
    await within(energy).findByText('42 kWh')
    expect(within(energy).getByText('10 kWh')).toBeTruthy()
    expect(within(energy).getByText('5 kW')).toBeTruthy()
    const sales = screen.getByRole('region', { name: 'Sales' })
    expect(within(sales).getByText('30 kWh for $2.40 (2 sales)')).toBeTruthy()
    expect(within(sales).getByText('10 kWh for $1.20 (1 sale)')).toBeTruthy()
  })

  it('lists payments naming it that are not settled yet, with their age', async () => {
    producerNode()
    await screen.findByText('42 kWh')
    const waiting = screen.getByRole('region', { name: 'Payments waiting for energy' })
    const rows = within(waiting).getAllByRole('row')
    expect(rows).toHaveLength(2)
    expect(rows[1]!.textContent).toContain('$0.60')
    expect(rows[1]!.textContent).toContain('neighbour (this node)')
    expect(rows[1]!.textContent).toContain('3 min ago')
    expect(rows[1]!.textContent).toContain('does not hold enough energy')
  })

  it('sets its prices with its own key, in minor units per MWh', async () => {
    const { api } = producerNode()
    await screen.findByText('42 kWh')
    fireEvent.change(screen.getByLabelText('Wholesale price (USD per kWh)'), { target: { value: '0.085' } })
    fireEvent.change(screen.getByLabelText('Retail price (USD per kWh)'), { target: { value: '0.13' } })
    fireEvent.click(screen.getByRole('button', { name: 'Set prices' }))
    await screen.findByText(/Prices set/)
    expect(api.calls.filter(c => c.method === 'POST')).toEqual([expect.objectContaining({ path: '/actions/price', body: { wholesale: 8500, retail: 13000, as: 'producer' } })])
  })

  it('refuses a price that is not a positive amount, without calling the node', async () => {
    const { api } = producerNode()
    await screen.findByText('42 kWh')
    fireEvent.change(screen.getByLabelText('Retail price (USD per kWh)'), { target: { value: 'cheap' } })
    fireEvent.click(screen.getByRole('button', { name: 'Set prices' }))
    await waitFor(() => { expect(screen.getByRole('alert').textContent).toBe('Retail price: enter a price like 0.125 (USD per kWh)') })
    expect(api.calls.filter(c => c.method === 'POST')).toHaveLength(0)
  })

  it('shows another node\'s producer read-only', () => {
    restore = mockApi().restore
    renderWithReplica(<Producer />)
    expect(screen.getByText('Only the seller’s own node can change these prices.')).toBeTruthy()
    expect(screen.queryByRole('button', { name: 'Set prices' })).toBeNull()
  })
})
