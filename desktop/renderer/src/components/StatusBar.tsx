// The node connection in one line: live, catching up, connecting, offline or the node starting, with
// the time of what is shown whenever it may be out of date.
import type { ReactNode } from 'react'
import { useConnection, useStatus, type ConnectionState } from '../data/hooks.tsx'
import { clock, when } from '../data/format.ts'

/** Per state: the words alone, and the lead before "showing what this app last saw at …". */
const WORDS: Readonly<Record<ConnectionState, { alone: string, lead: string }>> = Object.freeze({
  live: { alone: 'Live', lead: 'Live' },
  syncing: { alone: 'Catching up with your node…', lead: 'Catching up with your node…' },
  connecting: { alone: 'Connecting to your node…', lead: 'Connecting…' },
  offline: { alone: 'Offline: your node does not answer yet', lead: 'Offline:' },
  'node-starting': { alone: 'Your node is starting…', lead: 'Your node is starting…' }
})

export function StatusBar ({ now = Date.now }: { now?: () => number }): ReactNode {
  const { state, lastUpdate, behind } = useConnection()
  const status = useStatus()
  const seen = lastUpdate === null ? null : (when(lastUpdate, now()) === clock(lastUpdate) ? clock(lastUpdate) : when(lastUpdate, now()))
  const words = WORDS[state]
  const text = behind && seen !== null ? `${words.lead} showing what this app last saw at ${seen}` : words.alone
  return (
    <div className={`status-bar status-${state}`} role='status' aria-label='Connection'>
      <span className='status-dot' aria-hidden='true' />
      <span>{text}</span>
      {status !== null && <span className='status-grid'>{status.grid.name} · {status.peers.length} {status.peers.length === 1 ? 'neighbour' : 'neighbours'} connected</span>}
    </div>
  )
}
