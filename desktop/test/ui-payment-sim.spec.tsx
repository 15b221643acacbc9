// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest'
import { act, cleanup, fireEvent, screen, waitFor } from '@testing-library/react'
import { PaymentSimulator } from '../renderer/src/pages/PaymentSimulator.tsx'
import type { Receipt } from '../renderer/src/data/types.ts'
import { NOW, ids, mockApi, renderWithReplica } from './ui-fixture.tsx'

let restore = (): void => {}
afterEach(() => { cleanup(); restore() })

const receiptOf = (over: Partial<Receipt> = {}): Receipt => ({
  oracle: ids.oracle, seq: 3, payer: ids.resident, payee: ids.utility, contract: 'retail-seller', amountMinor: 500, amountDollars: 5,
  currency: 'USD', paymentId: 'sim_1', price: { minorPerMWh: 12500, dollarsPerKWh: 0.125 }, wh: 40000, ts: NOW, ageMs: 0,
  settled: false, settleable: true, reason: null, message: null, mine: true, ...over
})

const simulated = { result: { paymentId: 'sim_1', oracle: ids.oracle, seq: 3, id: '90a372', duplicate: false, result: { status: 'applied', id: '90a372', kind: 'receipt', author: ids.oracle, seq: 3, ts: NOW } } }

describe('payment simulator', () => {
  it('pays retail from a resident to the utility, then shows the receipt and its settlement', async () => {
    const api = mockApi(call => call.path === '/payments/simulate' ? { body: simulated } : undefined)
    restore = api.restore
    const { doc } = renderWithReplica(<PaymentSimulator />)

    expect((screen.getByLabelText('Kind of sale') as HTMLSelectElement).value).toBe('retail-seller')
    const payers = [...(screen.getByLabelText('Who pays') as HTMLSelectElement).options].map(o => o.value)
    expect(payers.sort()).toEqual([ids.neighbour, ids.resident, 'other'].sort())
    fireEvent.change(screen.getByLabelText('Who pays'), { target: { value: ids.resident } })
    fireEvent.change(screen.getByLabelText('Who is paid'), { target: { value: ids.utility } })
    fireEvent.change(screen.getByLabelText('Amount (USD)'), { target: { value: '5' } })
    expect(screen.getByText('buys about 40 kWh at $0.125 per kWh')).toBeTruthy()
    fireEvent.click(screen.getByRole('button', { name: 'Pay' }))

    await screen.findByText(/Waiting for the receipt to reach this app/)
    expect(api.calls).toEqual([expect.objectContaining({
      method: 'POST', path: '/payments/simulate',
      body: { payer: ids.resident, payee: ids.utility, contract: 'retail-seller', amountDollars: 5 }
    })])

    act(() => { doc.getMap('receipts').set('90a372', receiptOf({ settleable: false, reason: 'insufficient-funds' })) })
    expect(screen.getByRole('status').textContent).toMatch(/not settled yet.*does not hold enough energy/)
    expect(screen.getByText('$5.00 by resident (this node) to Island Power & Light')).toBeTruthy()

    act(() => { doc.getMap('receipts').set('90a372', receiptOf({ settled: true })) })
    expect(screen.getByRole('status').textContent).toBe('Settled: 40 kWh delivered to resident (this node).')
  })

  it('takes a payer the ledger does not know yet by account id (a resident\'s first purchase)', async () => {
    const api = mockApi(call => call.path === '/payments/simulate' ? { body: simulated } : undefined)
    restore = api.restore
    renderWithReplica(<PaymentSimulator />)
    fireEvent.change(screen.getByLabelText('Who pays'), { target: { value: 'other' } })
    fireEvent.click(screen.getByRole('button', { name: 'Pay' }))
    expect((await screen.findByRole('alert')).textContent).toContain('Enter the account id of who pays')
    expect(api.calls).toEqual([])
    const stranger = 'mg1qdfawcpf2a375mffd79778mhg7dal9xspjnj6dsp8cvsz2hegfh3sjx6eej'
    fireEvent.change(screen.getByLabelText('Payer\'s account id'), { target: { value: ` ${stranger} ` } })
    fireEvent.change(screen.getByLabelText('Who is paid'), { target: { value: ids.utility } })
    fireEvent.click(screen.getByRole('button', { name: 'Pay' }))
    await screen.findByText(/Waiting for the receipt to reach this app/)
    expect(api.calls).toEqual([expect.objectContaining({ body: expect.objectContaining({ payer: stranger, payee: ids.utility }) })])
  })

  it('offers utilities as payers and producers as payees for wholesale', () => {
    restore = mockApi().restore
    renderWithReplica(<PaymentSimulator />)
    fireEvent.change(screen.getByLabelText('Kind of sale'), { target: { value: 'wholesale-seller' } })
    const options = (label: string): string[] => [...(screen.getByLabelText(label) as HTMLSelectElement).options].map(o => o.value)
    expect(options('Who pays')).toEqual([ids.utility, 'other'])
    expect(options('Who is paid')).toEqual([ids.producer])
    expect(screen.getByText('buys about 62.5 kWh at $0.08 per kWh')).toBeTruthy()
  })

  it('refuses a bad amount without calling the node, and shows the node\'s refusal', async () => {
    const api = mockApi(call => call.path === '/payments/simulate'
      ? { status: 422, body: { error: { code: 'no-price', message: 'the payee has no retail price' } } }
      : undefined)
    restore = api.restore
    renderWithReplica(<PaymentSimulator />)
    fireEvent.change(screen.getByLabelText('Amount (USD)'), { target: { value: '1.234' } })
    fireEvent.click(screen.getByRole('button', { name: 'Pay' }))
    expect(screen.getByRole('alert').textContent).toBe('Amount: at most 2 decimals')
    expect(api.calls).toHaveLength(0)

    fireEvent.change(screen.getByLabelText('Amount (USD)'), { target: { value: '2' } })
    fireEvent.click(screen.getByRole('button', { name: 'Pay' }))
    await waitFor(() => { expect(screen.getByRole('alert').textContent).toBe('That seller has no price set. (the payee has no retail price)') })
    expect(api.calls).toHaveLength(1)
    expect(screen.queryByText(/Receipt/)).toBeNull()
  })
})
