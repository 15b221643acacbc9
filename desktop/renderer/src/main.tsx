import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import './styles.css'
import { connection, takeTokenFromFragment } from './data/connection.ts'
import { ReplicaStore } from './data/replica.ts'
import { replicaOpener, Root } from './Root.tsx'
import { desktopApi } from './setup/types.ts'

// The token leaves the address bar before anything renders or routes.
if (window.microgrid === undefined) takeTokenFromFragment()

// The connection: the page's origin and token in a browser; in the desktop app the preload's, which
// answers once the node runs (first run, locked keys or starting: NodeGate).
const replica = replicaOpener(async () => await ReplicaStore.open(), connection)
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <Root desktop={desktopApi()} replica={replica} />
  </StrictMode>
)

// Served by a node over http(s): a service worker keeps the app's files, so that a reload while the
// node is down still opens the app (the desktop app loads it from its own scheme instead).
if (window.microgrid === undefined && 'serviceWorker' in navigator && window.isSecureContext) {
  void navigator.serviceWorker.register('./sw.js').catch(() => {})
}
