// The frame of every page: the left navigation (from the page registry), the status bar, the page.
import type { ReactNode } from 'react'
import { StatusBar } from './StatusBar.tsx'

export interface NavEntry { path: string, title: string }

export function Layout ({ nav, current, children }: { nav: NavEntry[], current: string, children: ReactNode }): ReactNode {
  return (
    <div className='layout'>
      <nav className='sidebar' aria-label='Pages'>
        <div className='brand'>Microgrid</div>
        <ul>
          {nav.map(entry => (
            <li key={entry.path}>
              <a href={`#${entry.path}`} aria-current={entry.path === current ? 'page' : undefined}>{entry.title}</a>
            </li>
          ))}
        </ul>
      </nav>
      <div className='main'>
        <StatusBar />
        <main className='page'>{children}</main>
      </div>
    </div>
  )
}
