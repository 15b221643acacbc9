import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import './styles.css'
import { App } from './App.tsx'
import { connection, takeTokenFromFragment } from './data/connection.ts'
import { ReplicaProvider } from './data/hooks.tsx'
import { ReplicaStore } from './data/replica.ts'
import { ToastProvider } from './components/Toasts.tsx'

// The token leaves the address bar before anything renders or routes.
if (window.microgrid === undefined) takeTokenFromFragment()

async function start (): Promise<void> {
  await connection()
  const replica = await ReplicaStore.open()
  replica.start()
  createRoot(document.getElementById('root')!).render(
    <StrictMode>
      <ReplicaProvider replica={replica}>
        <ToastProvider>
          <App />
        </ToastProvider>
      </ReplicaProvider>
    </StrictMode>
  )
}

// Served by a node over http(s): a service worker keeps the app's files, so that a reload while the
// node is down still opens the app (the desktop app loads it from its own scheme instead).
if (window.microgrid === undefined && 'serviceWorker' in navigator && window.isSecureContext) {
  void navigator.serviceWorker.register('./sw.js').catch(() => {})
}

void start()
