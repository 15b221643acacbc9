// The node on the network: its peers, how far its sync got, its state hash and op counts, and this
// app's live link to the node.
import { useState, type ReactNode } from 'react'
import { age, clock, shortId } from '../data/format.ts'
import { useConnection, useStatus, type ConnectionState } from '../data/hooks.tsx'
import type { Status } from '../data/types.ts'
import { useNow } from './parts/hooks.ts'
import { setTileSource, tileSource } from '../data/tiles.ts'
import { Empty, PageHeader, Panel } from './parts/ui.tsx'

/**
 * How far the node's ledger got: decided ops over the count its peers said a sync under way leads to,
 * else over decided plus those waiting (pending or known missing).
 */
export function syncProgress (status: Pick<Status, 'ops' | 'sync'>): number {
  const target = status.sync.target ?? null
  if (target !== null && target > 0) return Math.min(1, status.ops.decided / target)
  const total = status.ops.decided + status.ops.pending + status.sync.missing
  return total === 0 ? 1 : status.ops.decided / total
}

const LINK_WORDS: Readonly<Record<ConnectionState, string>> = Object.freeze({
  live: 'live',
  syncing: 'catching up',
  connecting: 'connecting',
  offline: 'offline',
  'node-starting': 'waiting for the node to start'
})

export function Network (): ReactNode {
  const status = useStatus()
  const link = useConnection()
  const now = useNow(2000)
  if (status === null) {
    return (
      <div className='page'>
        <PageHeader title='Network' />
        <Empty>This app has not heard from its node yet.</Empty>
      </div>
    )
  }
  const progress = syncProgress(status)
  const synced = status.ops.pending === 0 && status.sync.missing === 0 && (status.sync.target ?? null) === null
  const percent = Math.floor(progress * 1000) / 10
  return (
    <div className='page'>
      <PageHeader title='Network' lead='This node, its peers, and how far its ledger got.' />
      <div className='grid2'>
        <Panel title='Sync'>
          <p role='status' className={synced ? 'check check-ok' : 'check check-bad'}>{synced ? '✓ In sync: nothing known to be missing' : `Syncing: ${percent}%`}</p>
          <div className='progress' role='progressbar' aria-label='Sync progress' aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent}><span style={{ width: `${percent}%` }} /></div>
          <dl className='facts'>
            <dt>Ops decided</dt><dd>{status.ops.decided.toLocaleString('en-US')}</dd>
            <dt>Ops pending</dt><dd>{status.ops.pending.toLocaleString('en-US')}</dd>
            <dt>Positions missing</dt><dd>{status.sync.missing.toLocaleString('en-US')}</dd>
            <dt>Last pull</dt><dd>{status.sync.lastPull === null ? 'none yet' : `${status.sync.lastPull.received} ops from ${shortId(status.sync.lastPull.peer)}, ${age(status.sync.lastPull.at, now)}`}</dd>
          </dl>
        </Panel>
        <Panel title='This node'>
          <dl className='facts'>
            <dt>Peer id</dt><dd className='mono'>{status.peerId}</dd>
            <dt>Grid</dt><dd>{status.grid.name} <span className='mono small muted'>{shortId(status.grid.id)}</span></dd>
            <dt>State hash</dt><dd className='mono' data-testid='state-hash'>{status.stateHash}</dd>
            <dt>Node clock</dt><dd>{clock(status.time)}</dd>
            <dt>This app’s link</dt><dd>{LINK_WORDS[link.state]}{link.lastUpdate !== null ? `, last update ${age(link.lastUpdate, now)}` : ''}</dd>
          </dl>
          {(status.addresses ?? []).length > 0 && (
            <details><summary>Listening addresses ({status.addresses?.length})</summary>
              <ul className='small mono'>{status.addresses?.map(a => <li key={a}>{a}</li>)}</ul>
            </details>
          )}
        </Panel>
        <Panel title='Map tiles'>
          <TileSetting />
        </Panel>
        <Panel title={`Peers (${status.peers.length})`} wide>
          {status.peers.length === 0
            ? <Empty>No peers connected: this node holds only what it had.</Empty>
            : (
              <table>
                <caption className='sr-only'>Connected peers</caption>
                <thead><tr><th scope='col'>Peer</th><th scope='col'>Addresses</th></tr></thead>
                <tbody>{status.peers.map(p => <tr key={p.id}><td className='mono'>{p.id}</td><td className='mono small'>{p.addresses.join(', ') || '—'}</td></tr>)}</tbody>
              </table>
              )}
        </Panel>
      </div>
    </div>
  )
}

/** The map's tile source: none (the offline plan) or an https URL template this browser keeps. */
function TileSetting (): ReactNode {
  const [saved, setSaved] = useState(tileSource() ?? '')
  const [text, setText] = useState(saved)
  const [error, setError] = useState<string | null>(null)
  const save = (value: string | null): void => {
    try {
      setTileSource(value)
      setSaved(value ?? '')
      setText(value ?? '')
      setError(null)
    } catch (err) {
      setError((err as Error).message)
    }
  }
  return (
    <form className='form' onSubmit={e => { e.preventDefault(); save(text.trim() === '' ? null : text) }}>
      <p className='hint'>
        The map is a plan drawn from the devices' positions and needs no internet. With a tile server you
        trust, it shows streets too when the server is reachable: {saved === '' ? 'none is set.' : 'this one is set.'}
      </p>
      <label>Tile address (https, with {'{z}'}, {'{x}'} and {'{y}'})
        <input type='url' value={text} placeholder='https://tiles.example.org/{z}/{x}/{y}.png' spellCheck={false} onChange={e => { setText(e.target.value) }} />
      </label>
      {error !== null && <p role='alert' className='note note-error'>{error}</p>}
      <div className='actions'>
        <button type='submit' className='primary'>Save</button>
        {saved !== '' && <button type='button' className='secondary' onClick={() => { save(null) }}>Use the plan only</button>}
      </div>
    </form>
  )
}

