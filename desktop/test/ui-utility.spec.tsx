// @vitest-environment happy-dom
import { afterEach, describe, expect, it, vi } from 'vitest'
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react'
import { Utility } from '../renderer/src/pages/Utility.tsx'
import { registerBody } from '../renderer/src/pages/parts/RegisterForm.tsx'
import type { Receipt } from '../renderer/src/data/types.ts'
import { NOW, fixtureStatus, ids, mockApi, renderWithReplica } from './ui-fixture.tsx'

const meter = 'mg1q08x7hw376d9f0lpnz3p09m5quu5gmj70akvtq0muu9rdl02cepnxcux5tc'
let restore = (): void => {}
afterEach(() => { cleanup(); restore(); vi.restoreAllMocks() })

const sale = (seq: number, over: Partial<Receipt>): Receipt => ({
  oracle: ids.oracle, seq, payer: ids.resident, payee: ids.utility, contract: 'retail-seller', amountMinor: 500, amountDollars: 5,
  currency: 'USD', paymentId: `p${seq}`, price: { minorPerMWh: 12500, dollarsPerKWh: 0.125 }, wh: 40_000, ts: NOW, ageMs: 0,
  settled: true, settleable: false, reason: null, message: null, mine: null, ...over
})

function utilityNode () {
  const status = fixtureStatus()
  status.signers.push({ name: 'registrar', account: meter, roles: ['registrar'] })
  const api = mockApi(call => call.method === 'POST' ? { body: { status: 'applied', id: 'ef', kind: 'x', author: ids.utility, seq: 1, ts: NOW } } : undefined)
  restore = api.restore
  const receipts = [sale(1, {}), sale(2, { amountMinor: 250, wh: 20_000, settled: false, settleable: false, reason: 'insufficient-funds' }), sale(3, { payee: ids.producer })]
  return { api, ...renderWithReplica(<Utility />, { fixture: { status, receipts } }) }
}

describe('utility console', () => {
  it('shows prepaid money collected against the energy delivered', () => {
    utilityNode()
    const panel = screen.getByRole('region', { name: 'Prepaid and delivered' })
    expect(within(panel).getByText('$7.50')).toBeTruthy()
    expect(within(panel).getByText('40 kWh')).toBeTruthy()
    expect(within(panel).getByText('20 kWh')).toBeTruthy()
    expect(panel.textContent).toContain('2 prepaid purchases: $5.00 delivered in energy, 1 waiting ($2.50)')
  })

  it('shows its prices and the producers\' wholesale prices, and sets its retail price with its key', async () => {
    const { api } = utilityNode()
    expect(within(screen.getByRole('region', { name: 'Prices' })).getByText('$0.125 per kWh')).toBeTruthy()
    expect(within(screen.getByRole('region', { name: 'Producers’ wholesale prices' })).getByRole('row', { name: /Rooftop 0 \$0.08 per kWh \$0.12 per kWh/ })).toBeTruthy()
    fireEvent.change(screen.getByLabelText('Retail price (USD per kWh)'), { target: { value: '0.115' } })
    fireEvent.click(screen.getByRole('button', { name: 'Set prices' }))
    await screen.findByText(/Prices set/)
    expect(api.calls.filter(c => c.method === 'POST').map(c => [c.path, c.body])).toEqual([['/actions/price', { retail: 11500, as: 'utility' }]])
  })

  it('registers a street light with its position, and a producer with its meter and capacity', async () => {
    const { api } = utilityNode()
    fireEvent.change(screen.getByLabelText('Name'), { target: { value: 'Plaza lamp 2' } })
    fireEvent.change(screen.getByLabelText('Device meter'), { target: { value: ids.lamp } })
    fireEvent.change(screen.getByLabelText('Kind of device'), { target: { value: 'street-light' } })
    fireEvent.change(screen.getByLabelText('Latitude'), { target: { value: '18.4655' } })
    fireEvent.change(screen.getByLabelText('Longitude'), { target: { value: '-66.1057' } })
    fireEvent.click(screen.getByRole('button', { name: 'Register' }))
    await screen.findByText('Plaza lamp 2 is registered.')

    fireEvent.change(screen.getByLabelText('Register a'), { target: { value: 'producer' } })
    fireEvent.change(screen.getByLabelText('Name'), { target: { value: 'Rooftop 3' } })
    fireEvent.change(screen.getByLabelText('Producer account'), { target: { value: ids.producer } })
    fireEvent.change(screen.getByLabelText('Generation meter'), { target: { value: meter } })
    fireEvent.change(screen.getByLabelText('Panel size (kW)'), { target: { value: '4.5' } })
    fireEvent.click(screen.getByRole('button', { name: 'Register' }))
    await screen.findByText('Rooftop 3 is registered.')

    expect(api.calls.filter(c => c.method === 'POST').map(c => [c.path, c.body])).toEqual([
      ['/actions/register', { role: 'consumer', meter: ids.lamp, category: 'street-light', position: [18.4655, -66.1057], label: 'Plaza lamp 2', as: 'registrar' }],
      ['/actions/register', { role: 'producer', account: ids.producer, meter, capacityW: 4500, label: 'Rooftop 3', as: 'registrar' }]
    ])
  })

  it('refuses a registration with a missing or bad field before calling the node', async () => {
    const { api } = utilityNode()
    fireEvent.change(screen.getByLabelText('Name'), { target: { value: 'Lamp' } })
    fireEvent.change(screen.getByLabelText('Device meter'), { target: { value: 'not-an-id' } })
    fireEvent.click(screen.getByRole('button', { name: 'Register' }))
    await waitFor(() => { expect(screen.getByRole('alert').textContent).toBe('Device meter: enter an account id starting with mg1') })
    expect(api.calls.filter(c => c.method === 'POST')).toHaveLength(0)
    expect(() => registerBody('consumer', { label: 'x', meter: ids.lamp, lat: '18.4' }, null)).toThrow(/Position: enter both/)
    expect(() => registerBody('producer', { label: 'x', account: meter, meter, capacityKw: '5' }, null)).toThrow(/must differ/)
    expect(registerBody('consumer', { label: 'x', meter: ids.lamp }, null)).toEqual({ role: 'consumer', meter: ids.lamp, category: 'household', position: null, label: 'x' })
  })

  it('downloads the devices\' QR labels as SVG and as PDF', async () => {
    utilityNode()
    const blobs: Blob[] = []
    vi.spyOn(URL, 'createObjectURL').mockImplementation(blob => { blobs.push(blob as Blob); return 'blob:labels' })
    const names: string[] = []
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) { names.push(this.download) })
    expect(screen.getByText(/^2 labels, 12 to an A4 page/)).toBeTruthy()

    fireEvent.click(screen.getByRole('button', { name: 'Download labels (SVG)' }))
    fireEvent.click(screen.getByRole('button', { name: 'Download labels (PDF)' }))
    await waitFor(() => { expect(names).toEqual(['Isla-labels.svg', 'Isla-labels.pdf']) })
    const svg = await blobs[0]!.text()
    expect(blobs[0]!.type).toBe('image/svg+xml')
    expect(svg.match(/<path class="qr"/g)).toHaveLength(2)
    expect(svg).toContain(`data-payload="microgrid:${ids.lamp}?grid=${ids.grid}"`)
    expect(svg).toContain('Street light · Isla')
    expect(blobs[1]!.type).toBe('application/pdf')
    expect(new TextDecoder().decode((await blobs[1]!.arrayBuffer()).slice(0, 5))).toBe('%PDF-')
  })
})
