// The consumer simulator (`#/consumer-sim`): a household meter and a bulb. The bulb follows the load's
// switch, the device's meter report (relay and power) and its funds; clicking it switches the simulated
// load; the meter turns while power flows, its meter signs burns (in whole steps of what it metered, the
// step set on each meter), and it goes dark when the funds run out.
import { useCallback, useEffect, useState, type ReactNode } from 'react'
import { ApiError, simulatedMeters, switchSimulated, type SimulatedMeter } from '../data/api.ts'
import { age, kwh, untilAbout } from '../data/format.ts'
import { useDevice, useDevices, useRecent } from '../data/hooks.tsx'
import { errorText, useToasts } from '../components/Toasts.tsx'
import { Bulb } from './consumer-sim/Bulb.tsx'
import { MeterFace } from './consumer-sim/MeterFace.tsx'

function deviceFromHash (): string | null {
  return new URLSearchParams(window.location.hash.split('?')[1] ?? '').get('device')
}

/** The node's simulated meters (`GET /simulator`), read again every few seconds; null: not read yet. */
function useSimulation (everyMs = 3_000): { meters: SimulatedMeter[] | null, unavailable: boolean, refresh: () => Promise<void> } {
  const [meters, setMeters] = useState<SimulatedMeter[] | null>(null)
  const [unavailable, setUnavailable] = useState(false)
  const refresh = useCallback(async (): Promise<void> => {
    try {
      setMeters(await simulatedMeters())
      setUnavailable(false)
    } catch (err) {
      if (err instanceof ApiError && (err.code === 'no-simulator' || err.code === 'not-found')) setUnavailable(true)
    }
  }, [])
  useEffect(() => {
    void refresh()
    const timer = setInterval(() => { void refresh() }, everyMs)
    return () => clearInterval(timer)
  }, [refresh, everyMs])
  return { meters, unavailable, refresh }
}

export function ConsumerSimulator ({ now = Date.now }: { now?: () => number }): ReactNode {
  const devices = useDevices()
  const [chosen, setChosen] = useState<string | null>(deviceFromHash)
  const id = chosen ?? devices.find(d => d.category === 'household')?.id ?? devices[0]?.id ?? null
  const device = useDevice(id)
  const burns = useRecent().filter(op => op.author === id && op.kind === 'burn' && op.status === 'applied')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const { notify } = useToasts()
  const simulation = useSimulation()

  if (devices.length === 0) return <><h1>Consumer simulator</h1><p className='muted'>No consumer device is registered yet.</p></>
  if (device === null) return <><h1>Consumer simulator</h1><p>No such device.</p></>

  const meter = device.meter
  const usable = device.funds.usableNowWh
  const relayOn = meter?.relay === true
  const simulated = simulation.meters?.find(m => m.id === device.id)
  const loadOn = simulated !== undefined ? simulated.on : meter !== null && meter.watts > 0
  // The meter's power estimate lingers after the load stops (it falls as time passes without a pulse): a
  // switched-off load draws nothing.
  const drawing = loadOn && relayOn && (meter?.watts ?? 0) > 0

  let state: string
  if (meter === null) state = 'Its meter has not reported to this node yet.'
  else if (!relayOn && usable <= 0) state = 'Dark: the funds ran out. Fund it on the account page to light it again.'
  else if (!relayOn) state = `Off: the meter holds the circuit open (${meter.reason}).`
  else if (!loadOn) state = 'On, but the load is switched off: nothing is drawn.'
  else if (!drawing) state = 'On: the load is switched on, power starts to flow.'
  else state = `Lit, drawing ${meter.watts} W: ${untilAbout(usable, meter.watts, now()) ?? ''}.`

  const toggle = async (): Promise<void> => {
    setBusy(true)
    setError(null)
    try {
      await switchSimulated({ meter: device.id, on: !loadOn })
      await simulation.refresh()
      notify(`${device.label}: load switched ${loadOn ? 'off' : 'on'}.`, 'success')
    } catch (err) {
      setError(err instanceof ApiError && (err.code === 'no-simulator' || err.code === 'unknown-meter')
        ? 'This device is not simulated here: its node cannot switch its load. The bulb shows the meter\'s real state.'
        : errorText(err))
    } finally {
      setBusy(false)
    }
  }

  return (
    <>
      <h1>Consumer simulator</h1>
      <div className='card'>
        <label style={{ maxWidth: 360 }}>
          Device
          <select value={device.id} onChange={e => { setChosen(e.target.value); setError(null) }}>
            {devices.map(d => <option key={d.id} value={d.id}>{d.label}</option>)}
          </select>
        </label>
      </div>
      <div className='grid2'>
        <section className='card sim-bulb' aria-labelledby='bulb-title'>
          <h2 id='bulb-title'>{device.label}</h2>
          <Bulb lit={drawing} pressed={loadOn} disabled={busy || meter === null || simulation.unavailable} onClick={() => { void toggle() }} />
          {simulation.unavailable && <p className='muted small'>This node hosts no simulated meters (the island demo does): the bulb only shows the real meter.</p>}
          <p role='status' aria-label='Bulb state'>{state}</p>
          {error !== null && <p className='error-text' role='alert'>{error}</p>}
        </section>
        <section className='card' aria-labelledby='meter-title'>
          <h2 id='meter-title'>Meter</h2>
          <MeterFace readingWh={device.funds.burnedWh} watts={meter?.watts ?? 0} turning={drawing} />
          <dl className='facts'>
            <dt>Usable now</dt><dd>{kwh(usable)}</dd>
            <dt>Burned so far</dt><dd>{kwh(device.funds.burnedWh)}</dd>
            {meter !== null && <><dt>Metered, not yet signed</dt><dd>{kwh(meter.queuedWh)}</dd></>}
            {meter !== null && <><dt>Last report</dt><dd>{age(meter.at, now())}</dd></>}
          </dl>
          <h3 className='small'>Burns signed by its meter</h3>
          <p className='muted small'>Each burn covers what the meter counted since its last one, in whole steps set on the meter (1 kWh unless set otherwise, any whole number of Wh).</p>
          {burns.length === 0
            ? <p className='muted small'>None recently.</p>
            : <ul className='small' aria-label='Recent burns'>{burns.slice(0, 5).map(b => <li key={b.id}>Burn {age(b.ts, now())}</li>)}</ul>}
        </section>
      </div>
    </>
  )
}
