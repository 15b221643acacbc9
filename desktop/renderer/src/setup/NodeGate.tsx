// What the desktop app shows until its node runs: asks the main process for the node's state and
// shows the matching screen (starting, first run, unlock, failed); once the node is ready, `children`.
// While the node starts, `children` too if an earlier run stored a replica to show (`lastKnownState`),
// told through NodeStartingProvider that the node is starting.
import { useEffect, useState, type ReactNode } from 'react'
import { NodeStartingProvider } from '../data/node-starting.tsx'
import { inWords } from './checks.ts'
import { ErrorText, Progress, Screen } from './Screen.tsx'
import { SetupScreen } from './SetupScreen.tsx'
import type { DesktopApi, NodeState } from './types.ts'
import { UnlockScreen } from './UnlockScreen.tsx'

/** How often a starting node is asked again. */
export const POLL_MS = 500

interface Answer { state: NodeState, seq: number }

export interface NodeGateProps {
  api: DesktopApi
  children: ReactNode
  pollMs?: number
  /** Whether there is a last known state to show while the node starts (a stored replica, not empty). */
  lastKnownState?: () => Promise<boolean>
}

export function NodeGate ({ api, children, pollMs = POLL_MS, lastKnownState }: NodeGateProps): ReactNode {
  // `asks` counts the questions asked; `answer.seq` says which one the state answers (a starting node
  // may answer with the same object twice, and must still be asked again).
  const [asks, setAsks] = useState(0)
  const [answer, setAnswer] = useState<Answer | undefined>(undefined)
  const show = (state: NodeState): void => { setAnswer(a => ({ state, seq: (a?.seq ?? 0) + 1 })) }
  const askAgain = (): void => { setAnswer(undefined); setAsks(n => n + 1) }

  useEffect(() => {
    let current = true
    api.nodeState().then(
      state => { if (current) show(state) },
      (err: unknown) => { if (current) show({ state: 'failed', message: inWords(err) }) }
    )
    return () => { current = false }
  }, [api, asks])

  const starting = answer?.state.state === 'starting'
  useEffect(() => {
    if (!starting) return
    const timer = setTimeout(() => { setAsks(n => n + 1) }, pollMs)
    return () => { clearTimeout(timer) }
  }, [starting, answer?.seq, pollMs])

  // Asked once the node is found starting. Once true it stays: locked, setup and failed still show their screens.
  const [lastKnown, setLastKnown] = useState(false)
  useEffect(() => {
    if (!starting || lastKnown || lastKnownState === undefined) return
    let current = true
    lastKnownState().then(known => { if (current) setLastKnown(known) }, () => {})
    return () => { current = false }
  }, [starting, lastKnown, lastKnownState])

  const state = answer?.state
  switch (state?.state) {
    case undefined:
    case 'starting':
      // The same element as when ready: the app is not mounted again when the node gets there.
      if (state !== undefined && lastKnown) return <NodeStartingProvider starting>{children}</NodeStartingProvider>
      return (
        <Screen title='Starting your node…' lead='Your node is opening its keys and finding the grid. This takes a few seconds.'>
          <Progress>Starting…</Progress>
        </Screen>
      )
    case 'ready':
      return <NodeStartingProvider starting={false}>{children}</NodeStartingProvider>
    case 'setup-needed':
      return <SetupScreen api={api} keychain={state.keychain} onState={show} />
    case 'locked':
      return <UnlockScreen api={api} keychain={state.keychain} reason={state.reason} onState={show} />
    case 'failed':
      return (
        <Screen title='Your node could not start' lead='The app could not start the node that keeps your copy of the grid. This is what it said:'>
          <ErrorText>{inWords(state.message)}</ErrorText>
          <div className='setup-actions'>
            <button type='button' onClick={askAgain}>Try again</button>
          </div>
        </Screen>
      )
  }
}
