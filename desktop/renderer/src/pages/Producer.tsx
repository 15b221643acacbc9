// A producer's page: its prices (set here by its own node), what its meter added to the ledger,
// its sales to the utility and to neighbours, and payments to it still waiting for their energy.
import { useMemo, useState, type ReactNode } from 'react'
import { kwh, money } from '../data/format.ts'
import { useAccount, useAccounts, usePrices, useReceipts, useStatus } from '../data/hooks.tsx'
import type { Receipt } from '../data/types.ts'
import { useApiGet, useNow, useSigners } from './parts/hooks.ts'
import { USD } from './parts/money.ts'
import { useAccountName } from './parts/names.ts'
import { PriceForm } from './parts/PriceForm.tsx'
import { ReceiptList } from './parts/ReceiptList.tsx'
import { ErrorNote, PageHeader, Panel } from './parts/ui.tsx'

interface ProducerDetails { registration: { capacityW?: number, meter?: string } | null }
interface MeterDetails { meter: { mintedWh: number, readingWh: number | null } | null }

function totals (receipts: Receipt[]): { minor: number, wh: number, count: number } {
  return receipts.reduce((t, r) => ({ minor: t.minor + r.amountMinor, wh: t.wh + (r.wh ?? 0), count: t.count + 1 }), { minor: 0, wh: 0, count: 0 })
}

export function Producer (): ReactNode {
  const status = useStatus()
  const currency = status?.grid.currency ?? USD
  const own = useSigners('producer')
  const producers = useAccounts().filter(a => a.role === 'producer')
  const [chosen, setChosen] = useState('')
  const producerId = [chosen, own[0]?.account, producers[0]?.id].find(id => id !== undefined && id !== '') ?? ''
  const producer = useAccount(producerId === '' ? null : producerId)
  const price = usePrices().find(p => p.account === producerId)
  const receipts = useReceipts()
  const nameOf = useAccountName()
  const now = useNow()
  const details = useApiGet<ProducerDetails>(producerId === '' ? null : `/accounts/${producerId}`)
  const meterId = details.data?.registration?.meter ?? null
  const meter = useApiGet<MeterDetails>(meterId === null ? null : `/accounts/${meterId}`, producer?.balanceWh)
  const signer = own.find(s => s.account === producerId)?.name ?? null

  const sales = useMemo(() => receipts.filter(r => r.payee === producerId), [receipts, producerId])
  const wholesale = totals(sales.filter(r => r.settled && r.contract === 'wholesale-seller'))
  const retail = totals(sales.filter(r => r.settled && r.contract === 'retail-seller'))
  const waiting = receipts.filter(r => !r.settled && (r.payee === producerId || r.payer === producerId))
  const name = producer?.label ?? 'Producer'

  return (
    <div className='page'>
      <PageHeader title={producerId === '' ? 'Producer' : name} lead='A producer’s prices, the energy its meter recorded, and what it sold.' />
      {producers.length > 1 && (
        <label className='picker'>Producer
          <select value={producerId} onChange={e => setChosen(e.target.value)}>
            {producers.map(p => <option key={p.id} value={p.id}>{p.label ?? p.id}{own.some(s => s.account === p.id) ? ' (this node)' : ''}</option>)}
          </select>
        </label>
      )}
      {producerId === '' && <p className='empty'>No producer is registered on this grid yet.</p>}
      {producerId !== '' && (
        <div className='grid2'>
          <Panel title='Prices'>
            <PriceForm key={`${producerId}/${price?.wholesale?.minorPerMWh}/${price?.retail?.minorPerMWh}`} price={price} currency={currency} signer={signer} />
          </Panel>
          <Panel title='Energy'>
            <dl className='facts'>
              <dt>Recorded by its meter</dt><dd>{meter.data?.meter != null ? kwh(meter.data.meter.mintedWh) : '—'}</dd>
              <dt>In its account now</dt><dd>{producer !== null ? kwh(producer.balanceWh) : '—'}</dd>
              <dt>Panel size</dt><dd>{details.data?.registration?.capacityW !== undefined ? `${(details.data.registration.capacityW / 1000).toLocaleString('en-US')} kW` : '—'}</dd>
            </dl>
            <ErrorNote error={details.error ?? meter.error} />
          </Panel>
          <Panel title='Sales'>
            <dl className='facts'>
              <dt>To the utility</dt><dd>{kwh(wholesale.wh)} for {money(wholesale.minor, currency)} ({wholesale.count} {wholesale.count === 1 ? 'sale' : 'sales'})</dd>
              <dt>To neighbours</dt><dd>{kwh(retail.wh)} for {money(retail.minor, currency)} ({retail.count} {retail.count === 1 ? 'sale' : 'sales'})</dd>
            </dl>
          </Panel>
          <Panel title='Payments waiting for energy' wide>
            <ReceiptList receipts={waiting} nameOf={nameOf} currency={currency} now={now} caption='Payments naming this producer not settled yet'
              empty='Nothing is waiting: every payment naming this producer has been delivered.' />
          </Panel>
        </div>
      )}
    </div>
  )
}
