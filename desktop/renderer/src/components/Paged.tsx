// Long lists a page at a time: a grid may hold thousands of devices, accounts and receipts, and a
// table of all of them costs a second of layout on every load. The first `step` items, then more.
import { useState, type ReactNode } from 'react'

export const PAGE_STEP = 50

/**
 * The items to show and, when some are hidden, a line saying so with a "Show more" button. A new
 * `from` (a search's text, say) starts again at the first page.
 */
export function usePaged<T> (items: readonly T[], step = PAGE_STEP, noun = 'rows', from: unknown = null): { shown: readonly T[], more: ReactNode } {
  const [page, setPage] = useState({ count: step, from })
  const count = Object.is(page.from, from) ? page.count : step
  const shown = items.length > count ? items.slice(0, count) : items
  const more = items.length > count
    ? (
      <p className='row'>
        <span className='muted'>{count.toLocaleString('en-US')} of {items.length.toLocaleString('en-US')} {noun} shown.</span>
        <button type='button' className='secondary' onClick={() => { setPage({ count: count + step * 4, from }) }}>Show more</button>
      </p>
      )
    : null
  return { shown, more }
}
