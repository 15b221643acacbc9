// The seed's producer simulator: a solar panel; click it and the sun comes out, the produced kWh tick
// up, and every whole kWh is minted on the ledger for the panel's producer by its generation meter.
import { useEffect, useRef, useState, type ReactNode } from 'react'
import { ApiError } from '../data/api.ts'
import { kwh } from '../data/format.ts'
import { useAccount, useAccounts } from '../data/hooks.tsx'
import { mintForGenerationMeter } from './parts/generation.ts'
import { useApiGet } from './parts/hooks.ts'
import { ErrorNote, PageHeader, Panel } from './parts/ui.tsx'

interface ProducerDetails { registration: { capacityW?: number, meter?: string } | null }
interface MeterDetails { meter: { mintedWh: number } | null }

/** Sped-up sunshine: a minute of the panel's full output every second, at most 1 kWh a second. */
export function whPerSecond (capacityW: number): number {
  return Math.min(capacityW / 60, 1000)
}

const TICK_MS = 200

export function ProducerSimulator (): ReactNode {
  const producers = useAccounts().filter(a => a.role === 'producer')
  const [chosen, setChosen] = useState('')
  const producerId = producers.some(p => p.id === chosen) ? chosen : producers[0]?.id ?? ''
  const producer = useAccount(producerId === '' ? null : producerId)
  const details = useApiGet<ProducerDetails>(producerId === '' ? null : `/accounts/${producerId}`)
  const meterId = details.data?.registration?.meter ?? null
  const capacityW = details.data?.registration?.capacityW ?? 5000
  const meter = useApiGet<MeterDetails>(meterId === null ? null : `/accounts/${meterId}`, producer?.balanceWh)

  const [sunny, setSunny] = useState(false)
  const [producedWh, setProducedWh] = useState(0)
  const [mintedWh, setMintedWh] = useState(0)
  const [error, setError] = useState<unknown>(null)
  // Whole kWh produced and not minted yet; refs, so a tick and a mint in flight never count twice.
  const produced = useRef(0)
  const owed = useRef(0)
  const minting = useRef(false)

  useEffect(() => {
    setSunny(false); setProducedWh(0); setMintedWh(0); setError(null)
    produced.current = 0; owed.current = 0
  }, [producerId])

  useEffect(() => {
    if (!sunny || meterId === null) return
    const meterAccount = meterId
    const step = whPerSecond(capacityW) * TICK_MS / 1000
    async function mintOwed (): Promise<void> {
      if (minting.current) return
      minting.current = true
      try {
        while (owed.current > 0) {
          await mintForGenerationMeter({ meter: meterAccount, wh: 1000 })
          owed.current--
          setMintedWh(m => m + 1000)
        }
      } catch (err) {
        setError(err)
        setSunny(false)
      } finally {
        minting.current = false
      }
    }
    const timer = setInterval(() => {
      const before = produced.current
      produced.current += step
      owed.current += Math.floor(produced.current / 1000) - Math.floor(before / 1000)
      setProducedWh(produced.current)
      if (owed.current > 0) void mintOwed()
    }, TICK_MS)
    return () => clearInterval(timer)
  }, [sunny, meterId, capacityW])

  const missingRoute = error instanceof ApiError && error.code === 'not-found'
  const name = producer?.label ?? 'this producer'
  return (
    <div className='page'>
      <PageHeader title='Producer simulator' lead='A rooftop solar panel. Click it to let the sun shine: the panel produces energy, and its meter adds every kWh to the producer’s account on the ledger.' />
      <div className='grid2'>
        <Panel title='Solar panel'>
          <label>Producer
            <select value={producerId} onChange={e => setChosen(e.target.value)}>
              {producers.length === 0 && <option value=''>No producer is registered yet</option>}
              {producers.map(p => <option key={p.id} value={p.id}>{p.label ?? p.id}</option>)}
            </select>
          </label>
          <button type='button' className='solar-button' aria-pressed={sunny} disabled={meterId === null}
            aria-label={sunny ? `Cloud over ${name}'s solar panel` : `Let the sun shine on ${name}'s solar panel`}
            onClick={() => { setError(null); setSunny(s => !s) }}>
            <SolarScene sunny={sunny} />
          </button>
          <p className='hint'>{sunny ? 'Sunshine sped up: a minute of full sun every second. Click again to stop.' : 'Click the panel to bring out the sun.'}</p>
          {details.error !== null && <ErrorNote error={details.error} />}
        </Panel>
        <Panel title='Energy'>
          <dl className='facts facts-large'>
            <dt>Produced now</dt><dd data-testid='produced'>{kwh(producedWh)}</dd>
            <dt>Added to the ledger now</dt><dd data-testid='minted'>{kwh(mintedWh)}</dd>
            <dt>{name}’s meter in total</dt><dd>{meter.data?.meter != null ? kwh(meter.data.meter.mintedWh) : '—'}</dd>
            <dt>{name}’s account</dt><dd>{producer !== null ? kwh(producer.balanceWh) : '—'}</dd>
            <dt>Panel size</dt><dd>{(capacityW / 1000).toLocaleString('en-US')} kW</dd>
          </dl>
          {missingRoute
            ? <p role='alert' className='note note-error'>This node cannot add energy for a generation meter yet: it has no minting service (POST /api/v1/actions/mint). The energy above was produced but not recorded.</p>
            : <ErrorNote error={error} />}
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
