// A list of payment receipts in plain words: who paid whom, how much, what it buys, and how long ago.
import type { ReactNode } from 'react'
import { age, kwh, money } from '../../data/format.ts'
import type { Currency, Receipt } from '../../data/types.ts'
import { waitingReason } from './receipts.ts'
import { Empty } from './ui.tsx'
import { usePaged } from '../../components/Paged.tsx'

export function ReceiptList ({ receipts, nameOf, currency, now, empty, caption }: {
  receipts: Receipt[], nameOf: (id: string) => string, currency: Currency, now: number, empty: string, caption: string
}): ReactNode {
  const paged = usePaged(receipts, 50, 'payments')
  if (receipts.length === 0) return <Empty>{empty}</Empty>
  return (
    <>
    <table className='table'>
      <caption className='sr-only'>{caption}</caption>
      <thead><tr><th scope='col'>Paid</th><th scope='col'>By</th><th scope='col'>To</th><th scope='col'>Energy</th><th scope='col'>When</th><th scope='col'>State</th></tr></thead>
      <tbody>
        {paged.shown.map(r => (
          <tr key={`${r.oracle}/${r.seq}`}>
            <td>{money(r.amountMinor, currency)}</td>
            <td>{nameOf(r.payer)}</td>
            <td>{nameOf(r.payee)}</td>
            <td>{r.wh !== null ? kwh(r.wh) : '—'}</td>
            <td>{age(r.ts, now)}</td>
            <td>{r.settled ? 'Delivered' : <span title={r.message ?? undefined}>Waiting: {waitingReason(r)}</span>}</td>
          </tr>
        ))}
      </tbody>
    </table>
    {paged.more}
    </>
  )
}
