// What the desktop app shows until its node runs: asks the main process for the node's state and
// shows the matching screen (starting, first run, unlock, failed); once the node is ready, `children`.
import { useEffect, useState, type ReactNode } from 'react'
import { inWords } from './checks.ts'
import { ErrorText, Progress, Screen } from './Screen.tsx'
import { SetupScreen } from './SetupScreen.tsx'
import type { DesktopApi, NodeState } from './types.ts'
import { UnlockScreen } from './UnlockScreen.tsx'

/** How often a starting node is asked again. */
export const POLL_MS = 500

interface Answer { state: NodeState, seq: number }

export function NodeGate ({ api, children, pollMs = POLL_MS }: { api: DesktopApi, children: ReactNode, pollMs?: number }): ReactNode {
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

  const state = answer?.state
  switch (state?.state) {
    case undefined:
    case 'starting':
      return (
        <Screen title='Starting your node…' lead='Your node is opening its keys and finding the grid. This takes a few seconds.'>
          <Progress>Starting…</Progress>
        </Screen>
      )
    case 'ready':
      return children
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
