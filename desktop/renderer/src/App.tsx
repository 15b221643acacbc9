// Hash routes (`#/resident`, `#/consumer-sim`, …) over the page registry, inside the layout.
import { useSyncExternalStore, type ReactNode } from 'react'
import { Layout } from './components/Layout.tsx'
import { pages } from './pages/registry.ts'

function subscribeHash (listener: () => void): () => void {
  window.addEventListener('hashchange', listener)
  return () => { window.removeEventListener('hashchange', listener) }
}

/** The route of the current hash: `#/resident?device=…` -> `/resident`. */
export function routeOf (hash: string): string {
  const path = hash.replace(/^#/, '').split('?')[0] ?? ''
  return path === '' ? '/' : path
}

export function useRoute (): string {
  return useSyncExternalStore(subscribeHash, () => routeOf(window.location.hash))
}

export function App (): ReactNode {
  const route = useRoute()
  const page = pages.find(p => p.path === route) ?? pages[0]
  const Page = page?.component
  return (
    <Layout nav={pages.map(({ path, title }) => ({ path, title }))} current={page?.path ?? route}>
      {Page === undefined ? <p>No pages.</p> : <Page />}
    </Layout>
  )
}
