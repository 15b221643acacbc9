// The seed's producer simulator: a solar panel; click it and the sun comes out on the island's
// simulated panel (POST /simulator/switch), its meter counts the kWh produced and mints them on the
// ledger for the panel's producer, as a real generation meter does.
import { useState, type ReactNode } from 'react'
import { ApiError, switchSimulated, type SimulatedMeter } from '../data/api.ts'
import { kwh } from '../data/format.ts'
import { useAccount, useAccounts, useStatus } from '../data/hooks.tsx'
import { useApiGet, useNow } from './parts/hooks.ts'
import { ErrorNote, PageHeader, Panel } from './parts/ui.tsx'

interface ProducerDetails { registration: { capacityW?: number, meter?: string } | null }
interface MeterDetails { meter: { mintedWh: number } | null }

export function ProducerSimulator (): ReactNode {
  const producers = useAccounts().filter(a => a.role === 'producer')
  const status = useStatus()
  const [chosen, setChosen] = useState('')
  // This node's own producer first (a rooftop owner opens the page to see their panel), else the first.
  const own = producers.find(p => status?.signers.some(s => s.account === p.id) === true)
  const producerId = producers.some(p => p.id === chosen) ? chosen : own?.id ?? producers[0]?.id ?? ''
  const producer = useAccount(producerId === '' ? null : producerId)
  const now = useNow(1000)
  const details = useApiGet<ProducerDetails>(producerId === '' ? null : `/accounts/${producerId}`)
  const meterId = details.data?.registration?.meter ?? null
  const simulator = useApiGet<{ meters: SimulatedMeter[] }>('/simulator', now)
  const ledger = useApiGet<MeterDetails>(meterId === null ? null : `/accounts/${meterId}`, producer?.balanceWh)
  const [switched, setSwitched] = useState<SimulatedMeter | null>(null)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)

  const listed = simulator.data?.meters.find(m => m.id === meterId)
  const panel = switched !== null && switched.id === meterId && (listed === undefined || switched.meteredWh >= listed.meteredWh) ? switched : listed
  const sunny = panel?.on === true
  const noSimulation = simulator.error instanceof ApiError && simulator.error.code === 'no-simulator'
  const name = producer?.label ?? 'this producer'

  async function toggle (): Promise<void> {
    if (meterId === null) return
    setError(null)
    setBusy(true)
    try {
      setSwitched(await switchSimulated({ meter: meterId, on: !sunny }))
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  return (
    <div className='page'>
      <PageHeader title='Producer simulator' lead='A rooftop solar panel. Click it to let the sun shine: the panel produces energy, and its meter adds every kWh to the producer’s account on the ledger.' />
      <div className='grid2'>
        <Panel title='Solar panel'>
          <label>Producer
            <select value={producerId} onChange={e => { setChosen(e.target.value); setSwitched(null); setError(null) }}>
              {producers.length === 0 && <option value=''>No producer is registered yet</option>}
              {producers.map(p => <option key={p.id} value={p.id}>{p.label ?? p.id}</option>)}
            </select>
          </label>
          <button type='button' className='solar-button' aria-pressed={sunny} disabled={panel === undefined || busy}
            aria-label={sunny ? `Cloud over ${name}'s solar panel` : `Let the sun shine on ${name}'s solar panel`}
            onClick={() => { void toggle() }}>
            <SolarScene sunny={sunny} />
          </button>
          <p className='hint'>{sunny ? 'The sun is out: the panel produces. Click again for clouds.' : 'Click the panel to bring out the sun.'}</p>
          {noSimulation && <p className='note'>This node runs no simulated panels (the island demo does), so the sun cannot be switched here.</p>}
          {!noSimulation && simulator.data !== null && meterId !== null && listed === undefined && <p className='note'>{name}’s meter is not one this node simulates.</p>}
          <ErrorNote error={error ?? details.error ?? (noSimulation ? null : simulator.error)} />
        </Panel>
        <Panel title='Energy'>
          <dl className='facts facts-large'>
            <dt>Produced by the panel</dt><dd data-testid='produced'>{panel !== undefined ? kwh(panel.meteredWh) : '—'}</dd>
            <dt>Added to the ledger by its meter</dt><dd data-testid='minted'>{ledger.data?.meter != null ? kwh(ledger.data.meter.mintedWh) : '—'}</dd>
            <dt>{name}’s account</dt><dd>{producer !== null ? kwh(producer.balanceWh) : '—'}</dd>
            <dt>Power in full sun</dt><dd>{panel !== undefined ? `${(panel.powerW / 1000).toLocaleString('en-US')} kW` : '—'}</dd>
          </dl>
        </Panel>
      </div>
    </div>
  )
}

function SolarScene ({ sunny }: { sunny: boolean }): ReactNode {
  return (
    <svg viewBox='0 0 240 180' width='240' height='180' aria-hidden='true' className={sunny ? 'scene sunny' : 'scene'}>
      <rect width='240' height='180' rx='12' fill={sunny ? '#dbeefe' : '#e4e7eb'} />
      {sunny && (
        <g className='sun' data-testid='sun'>
          <circle cx='190' cy='42' r='20' fill='#f7c948' />
          {Array.from({ length: 8 }, (_, i) => (
            <line key={i} x1='190' y1='14' x2='190' y2='4' stroke='#f7c948' strokeWidth='4' strokeLinecap='round' transform={`rotate(${i * 45} 190 42)`} />
          ))}
        </g>
      )}
      <g transform='translate(30 80)'>
        <polygon points='20,0 150,0 170,70 0,70' fill='#243b53' />
        {[0, 1, 2].map(r => [0, 1, 2, 3].map(c => (
          <polygon key={`${r}-${c}`} fill={sunny ? '#4098d7' : '#486581'}
            points={[[4 + c * 40.5 + (2 - r) * 6.7 + 2, 3 + r * 23], [4 + (c + 1) * 40.5 + (2 - r) * 6.7 - 2, 3 + r * 23], [4 + (c + 1) * 40.5 + (2 - r - 1) * 6.7 - 2, 3 + (r + 1) * 23 - 3], [4 + c * 40.5 + (2 - r - 1) * 6.7 + 2, 3 + (r + 1) * 23 - 3]].map(p => p.join(',')).join(' ')} />
        )))}
        <rect x='75' y='70' width='20' height='22' fill='#829ab1' />
      </g>
    </svg>
  )
}
