import { StrictMode, Suspense, use, type ReactNode } from 'react'
import { createRoot } from 'react-dom/client'
import './styles.css'
import { App } from './App.tsx'
import { connection, takeTokenFromFragment } from './data/connection.ts'
import { ReplicaProvider } from './data/hooks.tsx'
import { ReplicaStore } from './data/replica.ts'
import { ToastProvider } from './components/Toasts.tsx'
import { NodeGate } from './setup/NodeGate.tsx'
import { desktopApi } from './setup/types.ts'

// The token leaves the address bar before anything renders or routes.
if (window.microgrid === undefined) takeTokenFromFragment()

let opened: Promise<ReplicaStore> | undefined

/** The replica, opened once (the same promise each render, as `use` needs) when the node's connection is known. */
function openReplica (): Promise<ReplicaStore> {
  opened ??= (async () => {
    await connection()
    const replica = await ReplicaStore.open()
    replica.start()
    return replica
  })()
  return opened
}

function ReplicaApp (): ReactNode {
  const replica = use(openReplica())
  return (
    <ReplicaProvider replica={replica}>
      <ToastProvider>
        <App />
      </ToastProvider>
    </ReplicaProvider>
  )
}

// In the desktop app the node may not run yet: first run, locked keys or starting (NodeGate).
const desktop = desktopApi()
const app = <Suspense fallback={null}><ReplicaApp /></Suspense>
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    {desktop === undefined ? app : <NodeGate api={desktop}>{app}</NodeGate>}
  </StrictMode>
)

// Served by a node over http(s): a service worker keeps the app's files, so that a reload while the
// node is down still opens the app (the desktop app loads it from its own scheme instead).
if (window.microgrid === undefined && 'serviceWorker' in navigator && window.isSecureContext) {
  void navigator.serviceWorker.register('./sw.js').catch(() => {})
}
