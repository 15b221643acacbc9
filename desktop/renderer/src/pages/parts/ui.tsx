// Pieces of the operator pages: a page heading, a panel (a card), an error note.
import type { ReactNode } from 'react'
import { errorText } from '../../components/Toasts.tsx'
import './pages.css'

export function PageHeader ({ title, lead }: { title: string, lead?: ReactNode }): ReactNode {
  return (
    <header className='page-header'>
      <h1>{title}</h1>
      {lead !== undefined && <p className='lead'>{lead}</p>}
    </header>
  )
}

export function Panel ({ title, children, wide }: { title: string, children: ReactNode, wide?: boolean }): ReactNode {
  const id = `panel-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`
  return (
    <section className={wide === true ? 'card span-all' : 'card'} aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  )
}

/** What went wrong, in the API's words (its message names the field or rule). */
export function ErrorNote ({ error }: { error: unknown }): ReactNode {
  if (error === null || error === undefined) return null
  return <p role='alert' className='note note-error'>{errorText(error)}</p>
}

export function Empty ({ children }: { children: ReactNode }): ReactNode {
  return <p className='empty'>{children}</p>
}
