// The frame of the screens shown before the node runs: the app's mark, one card, a heading.
import type { ReactNode } from 'react'
import './setup.css'

export function Screen ({ title, lead, children }: { title: string, lead?: ReactNode, children?: ReactNode }): ReactNode {
  return (
    <div className='setup-screen'>
      <main className='setup-column' aria-labelledby='setup-title'>
        <div className='setup-brand' aria-hidden='true'>
          <svg viewBox='0 0 32 32' width='28' height='28'><rect width='32' height='32' rx='7' fill='#1f3a2e' /><path d='M18 3 7 18h7l-2 11 11-15h-7z' fill='#ffd54a' /></svg>
          Microgrid
        </div>
        <section className='setup-card'>
          <h1 id='setup-title'>{title}</h1>
          {lead !== undefined && <p className='setup-lead'>{lead}</p>}
          {children}
        </section>
      </main>
    </div>
  )
}

/** Work in progress, announced to screen readers: a spinner and a sentence. */
export function Progress ({ children }: { children: ReactNode }): ReactNode {
  return (
    <p role='status' className='setup-progress'>
      <span className='setup-spinner' aria-hidden='true' />
      <span>{children}</span>
    </p>
  )
}

export function ErrorText ({ children }: { children: ReactNode }): ReactNode {
  if (children === null || children === undefined || children === '') return null
  return <div role='alert' className='setup-error'>{children}</div>
}
