// Buy units with a (simulated) payment: a seller, an amount in dollars, the price and the kWh it buys.
import { useState, type ReactNode } from 'react'
import { buyUnits } from '../../data/api.ts'
import { kwh, money, pricePerKwh, whForPayment } from '../../data/format.ts'
import { usePrices } from '../../data/hooks.tsx'
import type { Currency, Signer } from '../../data/types.ts'
import { errorText, useToasts } from '../../components/Toasts.tsx'

/** Dollars typed by a person -> minor units, or null if not a positive amount with at most `digits` decimals. */
export function parseAmount (text: string, digits: number): number | null {
  const t = text.trim().replace(/^\$/, '')
  if (!new RegExp(`^\\d+(\\.\\d{0,${digits}})?$`).test(t)) return null
  const [whole, fraction = ''] = t.split('.')
  const minor = Number(whole) * 10 ** digits + Number(fraction.padEnd(digits, '0') || '0')
  return minor > 0 && Number.isSafeInteger(minor) ? minor : null
}

export function BuyUnits ({ me, currency }: { me: Signer, currency: Currency }): ReactNode {
  const sellers = usePrices().filter(p => p.retail !== null)
  const [sellerId, setSellerId] = useState<string>('')
  const [amount, setAmount] = useState('5')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const { notify } = useToasts()
  const seller = sellers.find(s => s.account === sellerId) ?? sellers.find(s => s.role === 'utility') ?? sellers[0]
  const minor = parseAmount(amount, currency.digits)
  const wh = seller?.retail != null && minor !== null ? whForPayment(minor, seller.retail.minorPerMWh) : null

  const submit = async (): Promise<void> => {
    if (seller === undefined || minor === null) return
    setBusy(true)
    setError(null)
    try {
      await buyUnits({ seller: seller.account, amount: minor, as: me.name })
      notify(`Paid ${money(minor, currency)} to ${seller.label ?? 'the seller'}: ${wh === null ? 'the units' : kwh(wh)} arrive when the seller's node settles the payment.`, 'success')
    } catch (err) {
      setError(errorText(err))
    } finally {
      setBusy(false)
    }
  }

  if (sellers.length === 0) {
    return <section className='card' aria-labelledby='buy-title'><h2 id='buy-title'>Buy units</h2><p className='muted'>No seller has a price yet.</p></section>
  }
  return (
    <section className='card' aria-labelledby='buy-title'>
      <h2 id='buy-title'>Buy units</h2>
      <form className='row' onSubmit={e => { e.preventDefault(); void submit() }}>
        <label>
          Buy from
          <select value={seller?.account ?? ''} onChange={e => { setSellerId(e.target.value) }}>
            {sellers.map(s => (
              <option key={s.account} value={s.account}>
                {s.label ?? s.account} ({s.role === 'utility' ? 'utility' : 'producer'}) — {pricePerKwh(s.retail!.dollarsPerKWh, currency)}
              </option>
            ))}
          </select>
        </label>
        <label>
          Amount ({currency.code})
          <input inputMode='decimal' value={amount} onChange={e => { setAmount(e.target.value) }} aria-invalid={minor === null} />
        </label>
        <button type='submit' disabled={busy || minor === null || wh === 0}>{busy ? 'Paying…' : 'Buy'}</button>
      </form>
      <p className='muted' aria-live='polite'>
        {minor === null
          ? `Enter an amount in ${currency.code}, like 5 or 2.50.`
          : `At ${pricePerKwh(seller!.retail!.dollarsPerKWh, currency)}, ${money(minor, currency)} buys ${kwh(wh ?? 0)}.`}
      </p>
      {error !== null && <p className='error-text' role='alert'>{error}</p>}
    </section>
  )
}
