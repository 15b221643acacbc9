// This account's history (GET /accounts/{id}/history), newest first, in words.
import { useEffect, useState, type ReactNode } from 'react'
import { accountHistory } from '../../data/api.ts'
import { kwh, shortId, when } from '../../data/format.ts'
import { useAccount, useAccounts, useDevices } from '../../data/hooks.tsx'
import type { HistoryEntry } from '../../data/types.ts'
import { errorText } from '../../components/Toasts.tsx'

export function describeEntry (entry: HistoryEntry, me: string, name: (id: string) => string): string {
  const body = entry.body
  let text: string
  if (entry.kind === 'transfer') {
    const to = typeof body.to === 'string' ? body.to : ''
    if (entry.deltaWh < 0 || entry.author === me) text = `Gave to ${name(to)}`
    else if (body.contract === 'retail-seller' || body.contract === 'wholesale-seller') text = `Bought from ${name(entry.author)}`
    else text = `Received from ${name(entry.author)}`
  } else if (entry.kind === 'receipt') {
    text = 'Payment recorded'
  } else if (entry.kind === 'burn' || entry.kind === 'meter') {
    text = entry.deltaWh > 0 ? `Came back from ${name(entry.author)}` : `Used by ${name(entry.author)}`
  } else if (entry.kind === 'mint') {
    text = 'Produced'
  } else if (entry.kind === 'register') {
    text = 'Registered'
  } else {
    text = entry.kind[0]!.toUpperCase() + entry.kind.slice(1)
  }
  return entry.status === 'rejected' ? `${text} (refused)` : text
}

export function History ({ me, now = Date.now }: { me: string, now?: () => number }): ReactNode {
  const account = useAccount(me)
  const devices = useDevices()
  const labels = new Map<string, string | null>([...devices.map(d => [d.id, d.label] as const), ...useAccounts().map(a => [a.id, a.label ?? null] as const)])
  const [entries, setEntries] = useState<HistoryEntry[]>([])
  const [next, setNext] = useState<string | null>(null)
  const [error, setError] = useState<string | null>(null)
  const name = (id: string): string => id === me ? 'you' : labels.get(id) ?? devices.find(d => d.id === id)?.label ?? shortId(id)
  const changed = `${account?.balanceWh}:${account?.ops}`

  useEffect(() => {
    let live = true
    accountHistory(me, { limit: 20 }).then(page => {
      if (!live) return
      setEntries(page.entries)
      setNext(page.next)
      setError(null)
    }).catch((err: unknown) => { if (live) setError(errorText(err)) })
    return () => { live = false }
  }, [me, changed])

  const more = async (): Promise<void> => {
    if (next === null) return
    try {
      const page = await accountHistory(me, { limit: 20, before: next })
      setEntries(list => [...list, ...page.entries])
      setNext(page.next)
    } catch (err) { setError(errorText(err)) }
  }

  return (
    <section className='card' aria-labelledby='history-title'>
      <h2 id='history-title'>History</h2>
      {error !== null && <p className='error-text' role='alert'>{error}</p>}
      {entries.length === 0 && error === null
        ? <p className='muted'>Nothing yet.</p>
        : (
          <table aria-label='History'>
            <thead><tr><th>When</th><th>What</th><th className='num'>Units</th></tr></thead>
            <tbody>
              {entries.map(e => (
                <tr key={e.cursor}>
                  <td>{when(e.ts, now())}</td>
                  <td>{describeEntry(e, me, name)}</td>
                  <td className='num'>{e.deltaWh === 0 ? '—' : `${e.deltaWh > 0 ? '+' : '−'}${kwh(Math.abs(e.deltaWh))}`}</td>
                </tr>
              ))}
            </tbody>
          </table>
          )}
      {next !== null && <button type='button' className='secondary' onClick={() => { void more() }}>Show older</button>}
    </section>
  )
}
