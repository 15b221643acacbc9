// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { cleanup, fireEvent, screen, waitFor, within } from '@testing-library/react'
import { Resident } from '../renderer/src/pages/Resident.tsx'
import { parseDeviceQr } from '../renderer/src/data/qr.ts'
import { parseAmount } from '../renderer/src/pages/resident/BuyUnits.tsx'
import { fixtureDevices, ids, mockApi, NOW, renderWithReplica, type ApiCall } from './ui-fixture.tsx'
import { LIST_PAGE } from '../renderer/src/pages/resident/FundDevice.tsx'

const history = {
  account: ids.resident,
  entries: [
    { cursor: 'c2', id: 'a2', kind: 'transfer', author: ids.resident, seq: 0, ts: NOW - 60_000, status: 'accepted', deltaWh: -1000, body: { contract: 'resident', to: ids.household, wh: 1000, receipt: null, window: null } },
    { cursor: 'c1', id: 'a1', kind: 'transfer', author: ids.utility, seq: 1, ts: NOW - 120_000, status: 'accepted', deltaWh: 4000, body: { contract: 'retail-seller', to: ids.resident, wh: 4000, receipt: [ids.oracle, 1], window: null } }
  ],
  next: null
}

let api: ReturnType<typeof mockApi>
let answer: (call: ApiCall) => { status?: number, body: unknown } | undefined

beforeEach(() => {
  localStorage.clear()
  answer = () => undefined
  api = mockApi(call => {
    if (call.path.startsWith(`/accounts/${ids.resident}/history`)) return { body: history }
    if (call.path.startsWith(`/accounts/${ids.neighbour}/history`)) return { body: { account: ids.neighbour, entries: [], next: null } }
    return answer(call)
  })
})
afterEach(() => { cleanup(); api.restore() })

describe('Resident page', () => {
  it('shows the resident account by default with its balance in kWh and its worth, and switches account', async () => {
    renderWithReplica(<Resident />)
    expect(screen.getByLabelText('Your balance').textContent).toBe('2.5 kWh')
    expect(screen.getByText(/Worth about \$0\.31 at Island Power & Light/)).toBeTruthy()
    fireEvent.change(screen.getByLabelText('Account'), { target: { value: 'neighbour' } })
    expect(screen.getByLabelText('Your balance').textContent).toBe('0.4 kWh')
    await waitFor(() => { expect(api.calls.some(c => c.path.startsWith(`/accounts/${ids.neighbour}/history`))).toBe(true) })
    expect(localStorage.getItem('microgrid.resident.me')).toBe('neighbour')
  })

  it('lists the history in words', async () => {
    renderWithReplica(<Resident />)
    const table = await screen.findByRole('table', { name: 'History' })
    expect(within(table).getByText('Gave to household 0')).toBeTruthy()
    expect(within(table).getByText('Bought from Island Power & Light')).toBeTruthy()
    expect(within(table).getByText('+4 kWh')).toBeTruthy()
    expect(within(table).getByText('−1 kWh')).toBeTruthy()
  })

  it('buys units: shows the price and the kWh an amount buys, and posts the buy in minor units', async () => {
    answer = call => call.path === '/actions/buy'
      ? { body: { result: { paymentId: 'sim_1', oracle: ids.oracle, seq: 3, id: 'r', duplicate: false } } }
      : undefined
    renderWithReplica(<Resident />)
    fireEvent.change(screen.getByLabelText('Amount (USD)'), { target: { value: '2.50' } })
    expect(screen.getByText('At $0.125 per kWh, $2.50 buys 20 kWh.')).toBeTruthy()
    fireEvent.change(screen.getByLabelText('Buy from'), { target: { value: ids.producer } })
    expect(screen.getByText('At $0.12 per kWh, $2.50 buys 20.8 kWh.')).toBeTruthy()
    fireEvent.click(screen.getByRole('button', { name: 'Buy' }))
    await screen.findByText(/Paid \$2\.50 to Rooftop 0/)
    expect(api.calls.find(c => c.path === '/actions/buy')).toMatchObject({ method: 'POST', body: { seller: ids.producer, amount: 250, as: 'resident' } })
  })

  it('shows a refused buy in words and keeps the form', async () => {
    answer = () => ({ status: 501, body: { error: { code: 'no-payments', message: 'this node has no payment service' } } })
    renderWithReplica(<Resident />)
    fireEvent.click(screen.getByRole('button', { name: 'Buy' }))
    const alert = await screen.findByRole('alert')
    expect(alert.textContent).toContain('This node has no payment service, so it cannot take payments.')
    fireEvent.change(screen.getByLabelText('Amount (USD)'), { target: { value: 'abc' } })
    expect((screen.getByRole('button', { name: 'Buy' }) as HTMLButtonElement).disabled).toBe(true)
  })

  it('funds a device chosen from the table, with a time window', async () => {
    answer = call => call.path === '/actions/fund' ? { body: { status: 'applied', id: 'f', kind: 'transfer', author: ids.resident, seq: 2, ts: NOW, funds: {} } } : undefined
    renderWithReplica(<Resident />)
    fireEvent.click(screen.getByRole('button', { name: 'Choose Plaza lamp' }))
    fireEvent.change(screen.getByLabelText('Units (kWh)'), { target: { value: '0.5' } })
    fireEvent.click(screen.getByLabelText('Only for a time window'))
    const from = Date.now() + 3_600_000
    const until = from + 6 * 3_600_000
    const local = (ms: number): string => { const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000); return d.toISOString().slice(0, 16) }
    fireEvent.change(screen.getByLabelText('From'), { target: { value: local(from) } })
    fireEvent.change(screen.getByLabelText('Until'), { target: { value: local(until) } })
    fireEvent.click(screen.getByRole('button', { name: 'Fund' }))
    await screen.findByText('Gave 0.5 kWh to Plaza lamp.')
    const call = api.calls.find(c => c.path === '/actions/fund')
    expect(call?.body).toEqual({ device: ids.lamp, wh: 500, window: { from: Math.floor(from / 60_000) * 60_000, until: Math.floor(until / 60_000) * 60_000 }, as: 'resident' })
  })

  it('lists a large grid\'s devices a page at a time, the ones this resident funds first, and finds them by name or kind', () => {
    const [funded, lamp] = fixtureDevices() as [ReturnType<typeof fixtureDevices>[number], ReturnType<typeof fixtureDevices>[number]]
    const many = Array.from({ length: 120 }, (_, i) => ({ ...lamp, id: `${lamp.id}-${i}`, label: `Lamp ${String(i).padStart(3, '0')}`, qr: `${lamp.qr}-${i}` }))
    renderWithReplica(<Resident />, { fixture: { devices: [...many, { ...funded, label: 'Zeta household' }] } })
    const rows = (): string[] => within(screen.getByRole('table', { name: 'Devices' })).getAllByRole('row').slice(1).map(r => r.querySelector('td')?.textContent ?? '')
    expect(rows()).toHaveLength(LIST_PAGE)
    expect(rows()[0]).toBe('Zeta household') // funded by this resident: first, though last by name
    expect(screen.getByText(`${LIST_PAGE} of 121 devices shown.`)).toBeTruthy()
    fireEvent.click(screen.getByRole('button', { name: 'Show more' }))
    expect(rows()).toHaveLength(121) // 25 + 100: every one
    fireEvent.change(screen.getByLabelText('Find a device'), { target: { value: 'lamp 11' } })
    expect(rows()).toEqual(['Lamp 110', 'Lamp 111', 'Lamp 112', 'Lamp 113', 'Lamp 114', 'Lamp 115', 'Lamp 116', 'Lamp 117', 'Lamp 118', 'Lamp 119'])
    fireEvent.change(screen.getByLabelText('Find a device'), { target: { value: 'stadium' } })
    expect(screen.getByText('No device matches “stadium”.')).toBeTruthy()
  })

  it('refuses a window that ends before it starts, without calling the API', () => {
    renderWithReplica(<Resident />)
    fireEvent.click(screen.getByRole('button', { name: 'Choose Plaza lamp' }))
    fireEvent.click(screen.getByLabelText('Only for a time window'))
    fireEvent.change(screen.getByLabelText('From'), { target: { value: '2099-01-02T10:00' } })
    fireEvent.change(screen.getByLabelText('Until'), { target: { value: '2099-01-02T09:00' } })
    expect(screen.getByText('"Until" must be after "from".')).toBeTruthy()
    expect((screen.getByRole('button', { name: 'Fund' }) as HTMLButtonElement).disabled).toBe(true)
  })

  it('shows per funded device what it burned, what came back, what is held, and until when the light stays on', () => {
    renderWithReplica(<Resident />)
    const section = screen.getByRole('region', { name: 'Devices you fund' })
    const row = within(section).getByText('household 0').closest('tr')!
    const cells = [...row.querySelectorAll('td')].map(td => td.textContent)
    expect(cells.slice(1, 5)).toEqual(['1 kWh', '0.3 kWh', '0 kWh', '0.7 kWh'])
    expect(cells[5]).toMatch(/^Light on until about (tomorrow )?\d\d:\d\d$/)
    expect(within(section).queryByText('Plaza lamp')).toBeNull()
  })

  it('shows what came back to this resident from a device, apart from what it burned and what it holds', () => {
    const [household, lamp] = fixtureDevices() as [ReturnType<typeof fixtureDevices>[number], ReturnType<typeof fixtureDevices>[number]]
    // 2 kWh given for an evening window: 0.6 kWh burned, 0.25 kWh came back when it ended, 1.15 kWh held
    const funded = {
      ...lamp,
      funds: { ...lamp.funds, funders: [{ funder: ids.resident, putWh: 2000, burnedWh: 600, returnedWh: 250, heldWh: 1150 }] }
    }
    renderWithReplica(<Resident />, { fixture: { devices: [household, funded] } })
    const section = screen.getByRole('region', { name: 'Devices you fund' })
    const headers = [...section.querySelectorAll('th')].map(th => th.textContent)
    const row = within(section).getByText('Plaza lamp').closest('tr')!
    const cells = [...row.querySelectorAll('td')].map(td => td.textContent)
    expect(cells[headers.indexOf('Came back')]).toBe('0.25 kWh')
    expect(cells.slice(1, 5)).toEqual(['2 kWh', '0.6 kWh', '0.25 kWh', '1.15 kWh'])
  })
})

describe('device QR labels and amounts', () => {
  it('reads a label of this grid and refuses another grid or another payload', () => {
    expect(parseDeviceQr(`microgrid:${ids.household}?grid=${ids.grid}`, ids.grid)).toEqual({ account: ids.household, grid: ids.grid })
    const other = 'mgrid1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq'
    expect(() => parseDeviceQr(`microgrid:${ids.household}?grid=${other}`, ids.grid)).toThrow('another grid')
    expect(() => parseDeviceQr('https://example.org', ids.grid)).toThrow('not a Microgrid device label')
    expect(() => parseDeviceQr(`microgrid:nope?grid=${ids.grid}`, ids.grid)).toThrow('no valid device account')
  })

  it('reads dollar amounts with at most the currency digits', () => {
    expect(parseAmount('5', 2)).toBe(500)
    expect(parseAmount('$2.5', 2)).toBe(250)
    expect(parseAmount('0.001', 2)).toBeNull()
    expect(parseAmount('0', 2)).toBeNull()
    expect(parseAmount('-1', 2)).toBeNull()
  })
})
