// The node connection in one line: live, connecting, or offline with the time of what is shown.
import type { ReactNode } from 'react'
import { useConnection, useStatus } from '../data/hooks.tsx'
import { clock, when } from '../data/format.ts'

export function StatusBar ({ now = Date.now }: { now?: () => number }): ReactNode {
  const { state, lastUpdate } = useConnection()
  const status = useStatus()
  const seen = lastUpdate === null ? null : (when(lastUpdate, now()) === clock(lastUpdate) ? clock(lastUpdate) : when(lastUpdate, now()))
  let text: string
  if (state === 'live') text = 'Live'
  else if (state === 'connecting') text = seen === null ? 'Connecting to your node…' : `Connecting… showing what this app last saw at ${seen}`
  else text = seen === null ? 'Offline: your node does not answer yet' : `Offline: showing what this app last saw at ${seen}`
  return (
    <div className={`status-bar status-${state}`} role='status' aria-label='Connection'>
      <span className='status-dot' aria-hidden='true' />
      <span>{text}</span>
      {status !== null && <span className='status-grid'>{status.grid.name} · {status.peers.length} {status.peers.length === 1 ? 'neighbour' : 'neighbours'} connected</span>}
    </div>
  )
}
