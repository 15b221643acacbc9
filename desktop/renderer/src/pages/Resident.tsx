// The resident's account page (`#/resident`): which account is "me", its balance and worth, buying
// units, funding devices, the devices it funds, and its history.
import { useState, type ReactNode } from 'react'
import { kwh, money, pricePerKwh, worthMinor } from '../data/format.ts'
import { useAccount, usePrices, useStatus } from '../data/hooks.tsx'
import { BuyUnits } from './resident/BuyUnits.tsx'
import { FundDevice } from './resident/FundDevice.tsx'
import { History } from './resident/History.tsx'
import { MyDevices } from './resident/MyDevices.tsx'
import { defaultMe, rememberMe, residentSigners } from './resident/me.ts'

export function Resident (): ReactNode {
  const status = useStatus()
  const [chosen, setChosen] = useState<string | null>(null)
  const signers = residentSigners(status?.signers ?? [])
  const me = signers.find(s => s.name === chosen) ?? defaultMe(status?.signers ?? [])
  const account = useAccount(me?.account)
  const utility = usePrices().find(p => p.role === 'utility' && p.retail !== null)

  if (status === null) return <><h1>My account</h1><p className='muted'>Waiting for the first news from your node…</p></>
  if (me === null) return <><h1>My account</h1><p>This node holds no resident key, so it cannot buy or fund.</p></>
  const currency = status.grid.currency
  const balanceWh = account?.balanceWh ?? 0

  return (
    <>
      <h1>My account</h1>
      <div className='grid2'>
        <section className='card' aria-labelledby='balance-title'>
          <h2 id='balance-title'>Balance</h2>
          {signers.length > 1 && (
            <label>
              Account
              <select value={me.name} onChange={e => { setChosen(e.target.value); rememberMe(e.target.value) }}>
                {signers.map(s => <option key={s.name} value={s.name}>{s.name}</option>)}
              </select>
            </label>
          )}
          <p className='big' aria-label='Your balance'>{kwh(balanceWh)}</p>
          {utility?.retail != null && (
            <p className='muted'>
              Worth about {money(worthMinor(balanceWh, utility.retail.minorPerMWh), currency)} at {utility.label ?? 'the utility'}'s
              price of {pricePerKwh(utility.retail.dollarsPerKWh, currency)}.
            </p>
          )}
          {account?.frozen === true && <p className='error-text'>This account is frozen by a conflict in its history: the registrar must settle it.</p>}
        </section>
        <BuyUnits me={me} currency={currency} />
      </div>
      <FundDevice me={me} grid={status.grid.id} />
      <MyDevices me={me.account} />
      <History me={me.account} />
    </>
  )
}
