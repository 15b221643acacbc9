// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from 'vitest'
import { act, cleanup, fireEvent, screen, within } from '@testing-library/react'
import { Explorer, supplyCheck } from '../renderer/src/pages/Explorer.tsx'
import type { Receipt } from '../renderer/src/data/types.ts'
import { NOW, fixtureAccounts, fixtureStatus, ids, mockApi, renderWithReplica } from './ui-fixture.tsx'

let restore = (): void => {}
afterEach(() => { cleanup(); restore() })

const receipt = (seq: number, settled: boolean): Receipt => ({
  oracle: ids.oracle, seq, payer: ids.resident, payee: ids.utility, contract: 'retail-seller', amountMinor: 25, amountDollars: 0.25,
  currency: 'USD', paymentId: `p${seq}`, price: { minorPerMWh: 12500, dollarsPerKWh: 0.125 }, wh: 2000, ts: NOW, ageMs: 0,
  settled, settleable: !settled, reason: settled ? null : 'insufficient-funds', message: null, mine: true
})

// The fixture's accounts hold 19,600 Wh; minted 20,000 − burned 400 = 19,600.
const balanced = () => ({ ...fixtureStatus(), supply: { mintedWh: 20_000, burnedWh: 400 } })

describe('ledger explorer', () => {
  it('checks the supply invariant minted = burned + held', () => {
    restore = mockApi().restore
    const { doc } = renderWithReplica(<Explorer />, { fixture: { status: balanced() } })
    const supply = screen.getByRole('region', { name: 'Supply' })
    expect(within(supply).getByRole('status').textContent).toBe('✓ Checked: minted = burned + held')
    expect(within(supply).getByText('19,600 Wh in 6 accounts')).toBeTruthy()
    act(() => { doc.getMap('status').set('supply', { mintedWh: 20_000, burnedWh: 300 }) })
    expect(within(supply).getByRole('status').textContent).toBe('✗ Mismatch: minted − burned − held = 100 Wh')
    expect(supplyCheck({ mintedWh: 5, burnedWh: 2 }, fixtureAccounts().slice(0, 0))).toEqual({ held: 0, ok: false })
  })

  it('lists chains and opens an account\'s ops from its history', async () => {
    const api = mockApi(call => call.path.startsWith(`/accounts/${ids.resident}/history`)
      ? { body: { account: ids.resident, next: null, entries: [
          { cursor: 'c1', id: '83e211575b671d1f', kind: 'transfer', author: ids.resident, seq: 0, ts: NOW, status: 'accepted', deltaWh: -1000, body: {} },
          { cursor: 'c2', id: 'bd3a33a83452555', kind: 'transfer', author: ids.utility, seq: 1, ts: NOW - 1000, status: 'accepted', deltaWh: 4000, body: {} }
        ] } }
      : undefined)
    restore = api.restore
    renderWithReplica(<Explorer />, { fixture: { status: balanced() } })
    const chains = screen.getByRole('table', { name: 'Accounts and their chains' })
    expect(within(chains).getAllByRole('row')).toHaveLength(7)
    fireEvent.click(within(chains).getByRole('button', { name: 'resident (this node)' }))
    const ops = await screen.findByRole('table', { name: 'Ops of resident (this node)' })
    expect(within(ops).getAllByRole('row').map(r => r.textContent)).toEqual([
      'OpKindAuthorSeqStatusΔ Wh',
      '83e211575b67transferitself0accepted-1000',
      'bd3a33a83452transferIsland Power & Light1accepted+4000'
    ])
    expect(api.calls[0]!.path).toBe(`/accounts/${ids.resident}/history?limit=20`)
  })

  it('shows recent ops, receipts settled and not, fraud proofs and frozen accounts', () => {
    restore = mockApi().restore
    renderWithReplica(<Explorer />, {
      fixture: {
        status: balanced(),
        recent: [
          { status: 'applied', id: 'aaaa00000000ffff', kind: 'transfer', author: ids.resident, seq: 3, ts: NOW },
          { status: 'rejected', id: 'bbbb00000000ffff', kind: 'burn', author: ids.household, seq: 9, ts: NOW, code: 'insufficient-funds', reason: 'no units' }
        ],
        receipts: [receipt(1, true), receipt(2, false)],
        forks: {
          [`${ids.lamp}/0`]: { author: ids.lamp, label: 'Plaza lamp', seq: 0, ids: ['1c0e', '9a44'], ops: ['aa', 'bb'], lifted: false },
          [ids.lamp]: { account: ids.lamp, label: 'Plaza lamp', frozenFrom: 0 }
        }
      }
    })
    const recent = screen.getByRole('table', { name: 'Ops this node decided, newest first' })
    const rows = within(recent).getAllByRole('row')
    expect(rows[1]!.textContent).toContain('rejected: insufficient-funds')
    expect(rows[2]!.textContent).toContain('resident (this node)')

    const receipts = screen.getByRole('region', { name: 'Receipts' })
    expect(within(receipts).getAllByRole('row')).toHaveLength(3)
    fireEvent.click(within(receipts).getByRole('button', { name: 'Not settled' }))
    expect(within(receipts).getAllByRole('row')).toHaveLength(2)
    expect(within(receipts).getByText('insufficient-funds')).toBeTruthy()
    fireEvent.click(within(receipts).getByRole('button', { name: 'Settled' }))
    expect(within(receipts).getByText('settled')).toBeTruthy()

    const forks = screen.getByRole('region', { name: 'Forks and frozen accounts' })
    expect(forks.textContent).toContain('Plaza lamp signed 2 ops at seq 0 frozen')
    expect(within(forks).getByText('kept 1c0e')).toBeTruthy()
    expect(within(forks).getByRole('table', { name: 'Frozen accounts' }).textContent).toContain('Plaza lamp')
  })

  it('shows a grid\'s many receipts and accounts a page at a time', () => {
    restore = mockApi().restore
    const many = Array.from({ length: 130 }, (_, i) => receipt(i + 1, i % 2 === 0))
    renderWithReplica(<Explorer />, { fixture: { status: balanced(), receipts: many } })
    const table = screen.getByRole('table', { name: 'Payment receipts' })
    expect(within(table).getAllByRole('row')).toHaveLength(1 + 50)
    expect(screen.getByText('50 of 130 receipts shown.')).toBeTruthy()
    fireEvent.click(screen.getByRole('button', { name: 'Show more' }))
    expect(within(screen.getByRole('table', { name: 'Payment receipts' })).getAllByRole('row')).toHaveLength(1 + 130)
    expect(screen.queryByText(/receipts shown\./)).toBeNull()
  })
})

