// The utility's console: its prices and the producers' wholesale prices, registering producers and
// devices, the devices' QR labels, and prepaid money collected against energy delivered.
import { useState, type ReactNode } from 'react'
import { kwh, money, pricePerKwh } from '../data/format.ts'
import { PAGE_STEP, usePaged } from '../components/Paged.tsx'
import { useAccounts, useDevices, usePrices, useReceipts, useStatus } from '../data/hooks.tsx'
import { categoryName } from '../labels/index.ts'
import { useSigners } from './parts/hooks.ts'
import { LabelSheet } from './parts/LabelSheet.tsx'
import { USD } from './parts/money.ts'
import { PriceForm } from './parts/PriceForm.tsx'
import { RegisterForm } from './parts/RegisterForm.tsx'
import { Empty, PageHeader, Panel } from './parts/ui.tsx'

export function Utility (): ReactNode {
  const status = useStatus()
  const currency = status?.grid.currency ?? USD
  const own = useSigners('utility')
  const registrar = useSigners('registrar')[0]?.name ?? null
  const utilities = useAccounts().filter(a => a.role === 'utility')
  const [chosen, setChosen] = useState('')
  const utilityId = [chosen, own[0]?.account, utilities[0]?.id].find(id => id !== undefined && id !== '') ?? ''
  const prices = usePrices()
  const price = prices.find(p => p.account === utilityId)
  const producers = prices.filter(p => p.role === 'producer')
  const devices = useDevices()
  const pagedDevices = usePaged(devices, PAGE_STEP, 'devices')
  const receipts = useReceipts().filter(r => r.payee === utilityId && r.contract === 'retail-seller')
  const signer = own.find(s => s.account === utilityId)?.name ?? null

  const collected = receipts.reduce((sum, r) => sum + r.amountMinor, 0)
  const delivered = receipts.filter(r => r.settled).reduce((sum, r) => sum + (r.wh ?? 0), 0)
  const owed = receipts.filter(r => !r.settled)
  const owedWh = owed.reduce((sum, r) => sum + (r.wh ?? 0), 0)
  const deliveredMoney = receipts.filter(r => r.settled).reduce((sum, r) => sum + r.amountMinor, 0)

  return (
    <div className='page'>
      <PageHeader title={price?.label ?? 'Utility console'} lead='Prices, registrations, device labels and the money residents prepaid against the energy delivered to them.' />
      {utilities.length > 1 && (
        <label className='picker'>Utility
          <select value={utilityId} onChange={e => setChosen(e.target.value)}>
            {utilities.map(u => <option key={u.id} value={u.id}>{u.label ?? u.id}</option>)}
          </select>
        </label>
      )}
      <div className='grid2'>
        <Panel title='Prepaid and delivered'>
          <dl className='facts facts-large'>
            <dt>Money collected</dt><dd>{money(collected, currency)}</dd>
            <dt>Energy delivered</dt><dd>{kwh(delivered)}</dd>
            <dt>Still to deliver</dt><dd>{kwh(owedWh)}</dd>
          </dl>
          <p className='hint'>{receipts.length} prepaid {receipts.length === 1 ? 'purchase' : 'purchases'}: {money(deliveredMoney, currency)} delivered in energy, {owed.length} waiting ({money(collected - deliveredMoney, currency)}).</p>
        </Panel>
        <Panel title='Prices'>
          {utilityId === ''
            ? <Empty>No utility is registered yet.</Empty>
            : <PriceForm key={`${utilityId}/${price?.wholesale?.minorPerMWh}/${price?.retail?.minorPerMWh}`} price={price} currency={currency} signer={signer} wholesaleFor='to other utilities' />}
        </Panel>
        <Panel title='Producers’ wholesale prices'>
          {producers.length === 0
            ? <Empty>No producer is registered yet.</Empty>
            : (
              <table>
                <thead><tr><th scope='col'>Producer</th><th scope='col'>Wholesale</th><th scope='col'>Retail</th></tr></thead>
                <tbody>{producers.map(p => (
                  <tr key={p.account}><td>{p.label ?? p.account}</td>
                    <td>{p.wholesale !== null ? pricePerKwh(p.wholesale.dollarsPerKWh, currency) : 'not set'}</td>
                    <td>{p.retail !== null ? pricePerKwh(p.retail.dollarsPerKWh, currency) : 'not set'}</td></tr>
                ))}</tbody>
              </table>
              )}
        </Panel>
        <Panel title='Register'>
          <RegisterForm signer={registrar} />
        </Panel>
        <Panel title='Device labels' wide>
          <LabelSheet devices={devices} gridName={status?.grid.name ?? 'grid'} />
          {devices.length > 0 && (
            <table>
              <thead><tr><th scope='col'>Device</th><th scope='col'>Kind</th><th scope='col' className='num'>Energy on it</th></tr></thead>
              <tbody>{pagedDevices.shown.map(d => <tr key={d.id}><td>{d.label}</td><td>{categoryName(d.category)}</td><td className='num'>{kwh(d.funds.balanceWh)}</td></tr>)}</tbody>
            </table>
          )}
          {pagedDevices.more}
        </Panel>
      </div>
    </div>
  )
}
