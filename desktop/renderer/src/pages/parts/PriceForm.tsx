// Setting a seller's wholesale and retail prices (POST /actions/price), typed in money per kWh.
import { useState, type FormEvent, type ReactNode } from 'react'
import { apiPost } from '../../data/api.ts'
import { pricePerKwh } from '../../data/format.ts'
import type { Currency, OpResult, Price } from '../../data/types.ts'
import { minorPerMWhFromText } from './money.ts'
import { ErrorNote } from './ui.tsx'

const asText = (value: Price['retail'], digits: number): string =>
  value === null ? '' : String(Math.round(value.dollarsPerKWh * 10 ** (digits + 3)) / 10 ** (digits + 3))

/** The current prices and, when this node holds the seller's key (`signer`), a form to change them. */
export function PriceForm ({ price, currency, signer, wholesaleFor = 'to the utility' }: { price: Price | undefined, currency: Currency, signer: string | null, wholesaleFor?: string }): ReactNode {
  const [wholesale, setWholesale] = useState(() => asText(price?.wholesale ?? null, currency.digits))
  const [retail, setRetail] = useState(() => asText(price?.retail ?? null, currency.digits))
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const [done, setDone] = useState(false)

  async function save (event: FormEvent): Promise<void> {
    event.preventDefault()
    setError(null); setDone(false)
    const body: { wholesale?: number, retail?: number, as?: string } = {}
    try {
      if (wholesale.trim() !== '') body.wholesale = minorPerMWhFromText(wholesale, currency, 'Wholesale price')
      if (retail.trim() !== '') body.retail = minorPerMWhFromText(retail, currency, 'Retail price')
      if (body.wholesale === undefined && body.retail === undefined) throw new RangeError('Enter a wholesale or a retail price')
    } catch (err) { setError(err); return }
    if (signer !== null) body.as = signer
    setBusy(true)
    try {
      await apiPost<OpResult>('/actions/price', body)
      setDone(true)
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  const show = (value: Price['retail']): string => value === null ? 'not set' : pricePerKwh(value.dollarsPerKWh, currency)
  return (
    <div>
      <dl className='facts'>
        <dt>Wholesale ({wholesaleFor})</dt><dd>{show(price?.wholesale ?? null)}</dd>
        <dt>Retail (to residents)</dt><dd>{show(price?.retail ?? null)}</dd>
      </dl>
      {signer === null
        ? <p className='hint'>Only the seller’s own node can change these prices.</p>
        : (
          <form className='form inline' onSubmit={e => { void save(e) }}>
            <label>Wholesale price ({currency.code} per kWh)
              <input type='text' inputMode='decimal' value={wholesale} onChange={e => setWholesale(e.target.value)} />
            </label>
            <label>Retail price ({currency.code} per kWh)
              <input type='text' inputMode='decimal' value={retail} onChange={e => setRetail(e.target.value)} />
            </label>
            <button type='submit' disabled={busy}>{busy ? 'Saving…' : 'Set prices'}</button>
            {done && <p role='status' className='note note-ok'>Prices set. Payments from now on use them.</p>}
            <ErrorNote error={error} />
          </form>
          )}
    </div>
  )
}
