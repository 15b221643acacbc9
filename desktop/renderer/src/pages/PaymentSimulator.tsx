// The seed's payment system simulator: a fiat payment from a payer to a payee under a sale contract,
// attested by the grid's payment oracle; the receipt appears, then the seller's node settles it.
import { useMemo, useState, type FormEvent, type ReactNode } from 'react'
import { apiPost } from '../data/api.ts'
import { kwh, money, pricePerKwh, whForPayment } from '../data/format.ts'
import { useAccounts, usePrices, useReceipts, useStatus } from '../data/hooks.tsx'
import type { Currency, PaymentResult, Receipt, SaleContract } from '../data/types.ts'
import { minorFromText, USD } from './parts/money.ts'
import { useAccountName } from './parts/names.ts'
import { waitingReason } from './parts/receipts.ts'
import { ErrorNote, PageHeader, Panel } from './parts/ui.tsx'

const contracts: Array<{ value: SaleContract, name: string, help: string }> = [
  { value: 'retail-seller', name: 'Retail: a resident buys from the utility or a producer', help: 'The seller sends the resident energy at its retail price.' },
  { value: 'wholesale-seller', name: 'Wholesale: the utility buys from a producer', help: 'The producer sends the utility energy at its wholesale price.' }
]

const OTHER = 'other'

export function PaymentSimulator (): ReactNode {
  const status = useStatus()
  const accounts = useAccounts()
  const prices = usePrices()
  const receipts = useReceipts()
  const nameOf = useAccountName()
  const currency = status?.grid.currency ?? USD

  const [contract, setContract] = useState<SaleContract>('retail-seller')
  const [payer, setPayer] = useState('')
  // A payer the ledger does not know yet (a resident's first purchase): typed in as an account id.
  const [otherPayer, setOtherPayer] = useState('')
  const [payee, setPayee] = useState('')
  const [amount, setAmount] = useState('5.00')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [sent, setSent] = useState<PaymentResult['result'] | null>(null)

  const payers = useMemo(() => {
    const role = contract === 'retail-seller' ? 'resident' : 'utility'
    const ids = new Set(accounts.filter(a => a.role === role).map(a => a.id))
    for (const s of status?.signers ?? []) if (s.roles.includes(role)) ids.add(s.account)
    return [...ids].map(id => ({ id, name: nameOf(id) })).sort((a, b) => a.name.localeCompare(b.name))
  }, [accounts, status, contract, nameOf])
  const payees = useMemo(() => prices
    .filter(p => contract === 'retail-seller' ? true : p.role === 'producer')
    .map(p => ({ id: p.account, name: p.label ?? nameOf(p.account), price: contract === 'retail-seller' ? p.retail : p.wholesale })), [prices, contract, nameOf])

  const payerId = payer === OTHER ? otherPayer.trim() : payers.some(p => p.id === payer) ? payer : payers[0]?.id ?? ''
  const chosen = payees.find(p => p.id === payee) ?? payees[0]
  const payeeId = chosen?.id ?? ''
  let preview: string | null = null
  try {
    const minor = minorFromText(amount, currency, 'Amount')
    if (chosen?.price != null) preview = `buys about ${kwh(whForPayment(minor, chosen.price.minorPerMWh))} at ${pricePerKwh(chosen.price.dollarsPerKWh, currency)}`
    else if (chosen !== undefined) preview = `${chosen.name} has no ${contract === 'retail-seller' ? 'retail' : 'wholesale'} price: this payment cannot buy energy`
  } catch { preview = null }

  const receipt = sent === null ? undefined : receipts.find(r => r.oracle === sent.oracle && r.seq === sent.seq)

  async function pay (event: FormEvent): Promise<void> {
    event.preventDefault()
    setError(null)
    let amountDollars: number
    try {
      amountDollars = minorFromText(amount, currency, 'Amount') / 10 ** currency.digits
      if (payerId === '') throw new RangeError(payer === OTHER ? 'Enter the account id of who pays (mg1…)' : 'Choose who pays')
      if (payeeId === '') throw new RangeError('Choose who is paid')
    } catch (err) { setError(err); return }
    setBusy(true)
    try {
      const answer = await apiPost<PaymentResult>('/payments/simulate', { payer: payerId, payee: payeeId, contract, amountDollars })
      setSent(answer.result)
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  return (
    <div className='page'>
      <PageHeader title='Payment simulator' lead='Pretend to be the bank: a payment in money from one party to another. The payment service records it on the ledger, and the seller then sends the energy it paid for.' />
      <div className='grid2'>
        <Panel title='Make a payment'>
          <form className='form' onSubmit={e => { void pay(e) }}>
            <label>Kind of sale
              <select value={contract} onChange={e => { setContract(e.target.value as SaleContract); setPayer(''); setPayee('') }}>
                {contracts.map(c => <option key={c.value} value={c.value}>{c.name}</option>)}
              </select>
            </label>
            <p className='hint'>{contracts.find(c => c.value === contract)?.help}</p>
            <label>Who pays
              <select value={payer === OTHER ? OTHER : payerId} onChange={e => setPayer(e.target.value)}>
                {payers.length === 0 && <option value=''>Nobody can pay under this contract yet</option>}
                {payers.map(p => <option key={p.id} value={p.id}>{p.name}</option>)}
                <option value={OTHER}>Someone else (enter their account id)</option>
              </select>
            </label>
            {payer === OTHER && (
              <label>Payer's account id
                <input type='text' value={otherPayer} placeholder='mg1…' spellCheck={false} onChange={e => setOtherPayer(e.target.value)} />
              </label>
            )}
            <label>Who is paid
              <select value={payeeId} onChange={e => setPayee(e.target.value)}>
                {payees.length === 0 && <option value=''>No seller is registered yet</option>}
                {payees.map(p => <option key={p.id} value={p.id}>{p.name}{p.price !== null ? ` — ${pricePerKwh(p.price.dollarsPerKWh, currency)}` : ' — no price'}</option>)}
              </select>
            </label>
            <label>Amount ({currency.code})
              <input type='text' inputMode='decimal' value={amount} onChange={e => setAmount(e.target.value)} />
            </label>
            {preview !== null && <p className='hint' aria-live='polite'>{preview}</p>}
            <button type='submit' className='primary' disabled={busy}>{busy ? 'Paying…' : 'Pay'}</button>
            <ErrorNote error={error} />
          </form>
        </Panel>
        {sent !== null && (
          <Panel title='Receipt'>
            <PaymentProgress sent={sent} receipt={receipt} nameOf={nameOf} currency={currency} />
          </Panel>
        )}
      </div>
    </div>
  )
}

function PaymentProgress ({ sent, receipt, nameOf, currency }: { sent: PaymentResult['result'], receipt: Receipt | undefined, nameOf: (id: string) => string, currency: Currency }): ReactNode {
  return (
    <div className='receipt' aria-live='polite'>
      {sent.duplicate && <p className='note'>This payment was already on the ledger: nothing new was recorded.</p>}
      <dl className='facts'>
        <dt>Payment</dt><dd className='mono'>{sent.paymentId}</dd>
        {receipt !== undefined && <>
          <dt>Paid</dt><dd>{money(receipt.amountMinor, currency)} by {nameOf(receipt.payer)} to {nameOf(receipt.payee)}</dd>
          <dt>Buys</dt><dd>{receipt.wh !== null ? kwh(receipt.wh) : 'no energy (no price)'}</dd>
        </>}
      </dl>
      {receipt === undefined
        ? <p className='step'>Payment recorded. Waiting for the receipt to reach this app…</p>
        : receipt.settled
          ? <p className='step step-done' role='status'>Settled: {receipt.wh !== null ? kwh(receipt.wh) : 'the energy'} delivered to {nameOf(receipt.payer)}.</p>
          : <p className='step' role='status'>Receipt on the ledger, not settled yet. {waitingReason(receipt)}</p>}
    </div>
  )
}
