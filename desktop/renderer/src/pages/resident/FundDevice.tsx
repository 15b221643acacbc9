// Fund a consumer device: choose it from a table, on the map or by its QR label, give kWh, and
// optionally only for a time window.
import { lazy, Suspense, useCallback, useMemo, useState, type ReactNode } from 'react'
import { fundDevice } from '../../data/api.ts'
import { kwh } from '../../data/format.ts'
import { useDevices } from '../../data/hooks.tsx'
import { parseDeviceQr } from '../../data/qr.ts'
import { tileSource } from '../../data/tiles.ts'
import type { Signer } from '../../data/types.ts'
import { errorText, useToasts } from '../../components/Toasts.tsx'
import { usePaged } from '../../components/Paged.tsx'

// The map (Leaflet) and the scanner (ZXing) load when first opened, not with the page.
const DeviceMap = lazy(async () => ({ default: (await import('../../components/DeviceMap.tsx')).DeviceMap }))
const QrScanner = lazy(async () => ({ default: (await import('../../components/QrScanner.tsx')).QrScanner }))

type Picker = 'list' | 'map' | 'qr'

/** Rows the list shows at first (a grid may have thousands of devices: search narrows them). */
export const LIST_PAGE = 25

/** A `datetime-local` value (local time) -> ms, or null. */
function localTime (value: string): number | null {
  if (value === '') return null
  const ms = new Date(value).getTime()
  return Number.isFinite(ms) ? ms : null
}

export function parseKwh (text: string): number | null {
  const t = text.trim()
  if (!/^\d+(\.\d{0,3})?$/.test(t)) return null
  const wh = Math.round(Number(t) * 1000)
  return wh > 0 && Number.isSafeInteger(wh) ? wh : null
}

export function FundDevice ({ me, grid, now = Date.now }: { me: Signer, grid: string, now?: () => number }): ReactNode {
  const devices = useDevices()
  const [picker, setPicker] = useState<Picker>('list')
  const [deviceId, setDeviceId] = useState<string | null>(null)
  const [amount, setAmount] = useState('1')
  const [windowed, setWindowed] = useState(false)
  const [from, setFrom] = useState('')
  const [until, setUntil] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const { notify } = useToasts()
  const [search, setSearch] = useState('')
  const device = devices.find(d => d.id === deviceId) ?? null
  // Devices this resident funds come first; then the rest by name. Search matches the name or kind.
  const listed = useMemo(() => {
    const q = search.trim().toLowerCase()
    const mine = (d: typeof devices[number]): boolean => d.funds.funders.some(f => f.funder === me.account)
    const match = q === '' ? devices : devices.filter(d => d.label.toLowerCase().includes(q) || d.category.replace('-', ' ').includes(q))
    return [...match.filter(mine), ...match.filter(d => !mine(d))]
  }, [devices, search, me.account])
  const paged = usePaged(listed, LIST_PAGE, 'devices', search)
  const wh = parseKwh(amount)

  const onScan = useCallback((text: string) => {
    try {
      const { account } = parseDeviceQr(text, grid)
      if (!devices.some(d => d.id === account)) throw new RangeError('That device is not registered on this grid yet.')
      setDeviceId(account)
      setError(null)
    } catch (err) {
      setError((err as Error).message)
    }
  }, [grid, devices])

  let windowProblem: string | null = null
  let fundWindow: { from: number, until: number } | null = null
  if (windowed) {
    const f = localTime(from) ?? now()
    const u = localTime(until)
    if (u === null) windowProblem = 'Choose until when the device may use these units.'
    else if (u <= f) windowProblem = '"Until" must be after "from".'
    else if (u <= now()) windowProblem = '"Until" must be in the future.'
    else fundWindow = { from: f, until: u }
  }

  const submit = async (): Promise<void> => {
    if (device === null || wh === null || windowProblem !== null) return
    setBusy(true)
    setError(null)
    try {
      await fundDevice({ device: device.id, wh, ...(fundWindow === null ? {} : { window: fundWindow }), as: me.name })
      notify(`Gave ${kwh(wh)} to ${device.label}.`, 'success')
    } catch (err) {
      setError(errorText(err))
    } finally {
      setBusy(false)
    }
  }

  return (
    <section className='card' aria-labelledby='fund-title'>
      <h2 id='fund-title'>Fund a device</h2>
      <div className='tabs' role='group' aria-label='Choose the device'>
        {([['list', 'From the list'], ['map', 'On the map'], ['qr', 'Scan its QR code']] as const).map(([key, text]) => (
          <button key={key} type='button' aria-pressed={picker === key} onClick={() => { setPicker(key) }}>{text}</button>
        ))}
      </div>
      {picker === 'list' && (
        <>
          <label className='search'>
            Find a device
            <input type='search' value={search} placeholder='Name or kind, e.g. street light' onChange={e => { setSearch(e.target.value) }} />
          </label>
          <table aria-label='Devices'>
            <thead><tr><th>Device</th><th>Kind</th><th className='num'>Usable now</th><th /></tr></thead>
            <tbody>
              {paged.shown.map(d => (
                <tr key={d.id} className={d.id === deviceId ? 'selected' : undefined}>
                  <td>{d.label}</td>
                  <td>{d.category.replace('-', ' ')}</td>
                  <td className='num'>{kwh(d.funds.usableNowWh)}</td>
                  <td>
                    <button type='button' className='secondary' aria-label={`Choose ${d.label}`} onClick={() => { setDeviceId(d.id) }}>
                      {d.id === deviceId ? 'Chosen' : 'Choose'}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {listed.length === 0 && <p className='muted'>No device matches “{search.trim()}”.</p>}
          {paged.more}
        </>
      )}
      <Suspense fallback={<p className='muted'>Loading…</p>}>
        {picker === 'map' && <DeviceMap devices={devices} selected={deviceId} onSelect={setDeviceId} tileUrl={tileSource()} />}
        {picker === 'qr' && <QrScanner onScan={onScan} />}
      </Suspense>

      <form className='row' style={{ marginTop: '1rem' }} onSubmit={e => { e.preventDefault(); void submit() }}>
        <p style={{ flexBasis: '100%', margin: 0 }} aria-live='polite'>
          {device === null ? 'No device chosen yet.' : <>Funding <strong>{device.label}</strong></>}
        </p>
        <label>
          Units (kWh)
          <input inputMode='decimal' value={amount} onChange={e => { setAmount(e.target.value) }} aria-invalid={wh === null} />
        </label>
        <label style={{ flexDirection: 'row', alignItems: 'center' }}>
          <input type='checkbox' checked={windowed} onChange={e => { setWindowed(e.target.checked) }} />
          Only for a time window
        </label>
        {windowed && (
          <>
            <label>From<input type='datetime-local' value={from} onChange={e => { setFrom(e.target.value) }} /></label>
            <label>Until<input type='datetime-local' value={until} onChange={e => { setUntil(e.target.value) }} /></label>
          </>
        )}
        <button type='submit' disabled={busy || device === null || wh === null || windowProblem !== null}>{busy ? 'Funding…' : 'Fund'}</button>
      </form>
      {windowed && <p className='small muted'>{windowProblem ?? 'What the device has not used when the window ends comes back to you.'}</p>}
      {wh === null && <p className='small error-text'>Enter the units in kWh, like 1 or 0.5.</p>}
      {error !== null && <p className='error-text' role='alert'>{error}</p>}
    </section>
  )
}
