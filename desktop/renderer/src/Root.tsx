// What the page renders: the app over its replica, and in the desktop app NodeGate around it, which
// shows the replica an earlier run stored while the node starts. main.tsx renders it; tests too, with fakes.
import { Suspense, use, useCallback, type ReactNode } from 'react'
import { App } from './App.tsx'
import { ToastProvider } from './components/Toasts.tsx'
import { ReplicaProvider } from './data/hooks.tsx'
import type { ReplicaStore } from './data/replica.ts'
import { NodeGate } from './setup/NodeGate.tsx'
import type { DesktopApi } from './setup/types.ts'

/**
 * The replica, opened on the first call (the same promise every call, as `use` needs): what IndexedDB
 * holds at once, the channel to the node once `connected` resolves (in the desktop app, once the node runs).
 */
export function replicaOpener (open: () => Promise<ReplicaStore>, connected: () => Promise<unknown>): () => Promise<ReplicaStore> {
  let opened: Promise<ReplicaStore> | undefined
  return () => {
    opened ??= open().then(replica => {
      // Should the answer fail, the replica starts anyway: each of its sessions asks for the connection
      // again (connection() keeps no failed answer) and retries with backoff, saying it is offline.
      const start = (): void => { replica.start() }
      void connected().then(start, start)
      return replica
    })
    return opened
  }
}

function ReplicaApp ({ replica }: { replica: () => Promise<ReplicaStore> }): ReactNode {
  return (
    <ReplicaProvider replica={use(replica())}>
      <ToastProvider>
        <App />
      </ToastProvider>
    </ReplicaProvider>
  )
}

/** `desktop`: the preload's API, undefined in a browser; `replica`: from replicaOpener. */
export function Root ({ desktop, replica }: { desktop: DesktopApi | undefined, replica: () => Promise<ReplicaStore> }): ReactNode {
  const lastKnownState = useCallback(async () => !(await replica()).empty, [replica])
  const app = <Suspense fallback={null}><ReplicaApp replica={replica} /></Suspense>
  return desktop === undefined ? app : <NodeGate api={desktop} lastKnownState={lastKnownState}>{app}</NodeGate>
}
