// The ledger explorer (technical detail welcome): the supply invariant, chains (accounts and their
// ops), recent ops, receipts, fraud proofs and frozen accounts.
import { useEffect, useState, type ReactNode } from 'react'
import { accountHistory } from '../data/api.ts'
import { age, money, shortId } from '../data/format.ts'
import { useAccounts, useForks, useRecent, useReceipts, useStatus } from '../data/hooks.tsx'
import type { Account, HistoryPage } from '../data/types.ts'
import { useNow } from './parts/hooks.ts'
import { USD } from './parts/money.ts'
import { useAccountName } from './parts/names.ts'
import { PAGE_STEP, usePaged } from '../components/Paged.tsx'
import { Empty, ErrorNote, PageHeader, Panel } from './parts/ui.tsx'

const wh = (n: number): string => `${n.toLocaleString('en-US')} Wh`

/** minted = burned + held: every unit minted is burned by a consumer or held in some account. */
export function supplyCheck (supply: { mintedWh: number, burnedWh: number }, accounts: Account[]): { held: number, ok: boolean } {
  const held = accounts.reduce((sum, a) => sum + a.balanceWh, 0)
  return { held, ok: supply.mintedWh === supply.burnedWh + held }
}

export function Explorer (): ReactNode {
  const status = useStatus()
  const accounts = useAccounts()
  const receipts = useReceipts()
  const recent = useRecent()
  const { forks, frozen } = useForks()
  const nameOf = useAccountName()
  const now = useNow(5000)
  const [receiptFilter, setReceiptFilter] = useState<'all' | 'settled' | 'unsettled'>('all')
  const [open, setOpen] = useState<string | null>(null)
  const currency = status?.grid.currency ?? USD
  const check = status === null ? null : supplyCheck(status.supply, accounts)
  const shownReceipts = receipts.filter(r => receiptFilter === 'all' || (receiptFilter === 'settled') === r.settled)
  const pagedReceipts = usePaged(shownReceipts, PAGE_STEP, 'receipts')
  const pagedAccounts = usePaged(accounts, PAGE_STEP, 'accounts')

  return (
    <div className='page'>
      <PageHeader title='Ledger explorer' lead='Everything this node’s ledger holds: chains, ops, receipts and fraud proofs.' />
      <div className='grid2'>
        <Panel title='Supply'>
          {status === null || check === null
            ? <Empty>No ledger state yet.</Empty>
            : <>
              <p className={check.ok ? 'check check-ok' : 'check check-bad'} role='status'>
                {check.ok ? '✓ Checked: minted = burned + held' : `✗ Mismatch: minted − burned − held = ${wh(status.supply.mintedWh - status.supply.burnedWh - check.held)}`}
              </p>
              <dl className='facts'>
                <dt>Minted</dt><dd>{wh(status.supply.mintedWh)}</dd>
                <dt>Burned</dt><dd>{wh(status.supply.burnedWh)}</dd>
                <dt>Held</dt><dd>{wh(check.held)} in {accounts.length} accounts</dd>
              </dl>
            </>}
        </Panel>
        <Panel title='Forks and frozen accounts'>
          {forks.length === 0 && frozen.length === 0 && <Empty>No fraud proofs: no key signed two ops at one position.</Empty>}
          {forks.map(f => (
            <div key={`${f.author}/${f.seq}`} className='fork'>
              <p><strong>{f.label ?? shortId(f.author)}</strong> signed {f.ids.length} ops at seq {f.seq} {f.lifted ? <span className='pill pill-ok'>lifted</span> : <span className='pill pill-bad'>frozen</span>}</p>
              <ul className='small mono'>{f.ids.map((id, i) => <li key={id}>{i === 0 ? 'kept ' : 'void '}{id}</li>)}</ul>
            </div>
          ))}
          {frozen.length > 0 && (
            <table>
              <caption className='sr-only'>Frozen accounts</caption>
              <thead><tr><th scope='col'>Frozen account</th><th scope='col' className='num'>From seq</th></tr></thead>
              <tbody>{frozen.map(f => <tr key={f.account}><td>{f.label ?? <code>{shortId(f.account)}</code>}</td><td className='num'>{f.frozenFrom}</td></tr>)}</tbody>
            </table>
          )}
        </Panel>
        <Panel title='Chains' wide>
          <div className='scroll'>
            <table>
              <caption className='sr-only'>Accounts and their chains</caption>
              <thead><tr><th scope='col'>Account</th><th scope='col'>Role</th><th scope='col' className='num'>Ops</th><th scope='col' className='num'>Balance</th><th scope='col' className='num'>Spendable</th><th scope='col'>State</th></tr></thead>
              <tbody>{pagedAccounts.shown.map(a => (
                <Chain key={a.id} account={a} open={open === a.id} onToggle={() => setOpen(o => o === a.id ? null : a.id)} nameOf={nameOf} />
              ))}</tbody>
            </table>
          </div>
          {pagedAccounts.more}
        </Panel>
        <Panel title='Recent ops' wide>
          {recent.length === 0
            ? <Empty>No ops decided since this node started.</Empty>
            : (
              <div className='scroll'>
                <table>
                  <caption className='sr-only'>Ops this node decided, newest first</caption>
                  <thead><tr><th scope='col'>Op</th><th scope='col'>Kind</th><th scope='col'>Author</th><th scope='col' className='num'>Seq</th><th scope='col'>Status</th><th scope='col'>Signed</th></tr></thead>
                  <tbody>{recent.map(op => (
                    <tr key={`${op.id}/${op.status}`}>
                      <td><code title={op.id}>{op.id.slice(0, 12)}</code></td><td>{op.kind}</td><td>{nameOf(op.author)}</td><td className='num'>{op.seq}</td>
                      <td><span className={op.status === 'applied' ? 'pill pill-ok' : 'pill pill-bad'} title={op.reason}>{op.status}{op.code !== undefined ? `: ${op.code}` : ''}</span></td>
                      <td>{age(op.ts, now)}</td>
                    </tr>
                  ))}</tbody>
                </table>
              </div>
              )}
        </Panel>
        <Panel title='Receipts' wide>
          <div className='tabs' role='group' aria-label='Which receipts'>
            {(['all', 'settled', 'unsettled'] as const).map(f => (
              <button key={f} type='button' aria-pressed={receiptFilter === f} onClick={() => setReceiptFilter(f)}>{f === 'all' ? `All (${receipts.length})` : f === 'settled' ? 'Settled' : 'Not settled'}</button>
            ))}
          </div>
          {shownReceipts.length === 0
            ? <Empty>No receipts here.</Empty>
            : (
              <div className='scroll'>
                <table>
                  <caption className='sr-only'>Payment receipts</caption>
                  <thead><tr><th scope='col'>Receipt</th><th scope='col'>Contract</th><th scope='col'>Payer → payee</th><th scope='col' className='num'>Amount</th><th scope='col' className='num'>Wh</th><th scope='col'>State</th><th scope='col'>Age</th></tr></thead>
                  <tbody>{pagedReceipts.shown.map(r => (
                    <tr key={`${r.oracle}/${r.seq}`}>
                      <td><code>{shortId(r.oracle)}#{r.seq}</code></td><td>{r.contract}</td><td>{nameOf(r.payer)} → {nameOf(r.payee)}</td>
                      <td className='num'>{money(r.amountMinor, currency)}</td><td className='num'>{r.wh === null ? '—' : r.wh.toLocaleString('en-US')}</td>
                      <td>{r.settled ? <span className='pill pill-ok'>settled</span> : <span className={r.reason === null ? 'pill' : 'pill pill-bad'} title={r.message ?? undefined}>{r.reason ?? 'settleable'}</span>}</td>
                      <td>{age(r.ts, now)}</td>
                    </tr>
                  ))}</tbody>
                </table>
                {pagedReceipts.more}
              </div>
              )}
        </Panel>
      </div>
    </div>
  )
}

function Chain ({ account, open, onToggle, nameOf }: { account: Account, open: boolean, onToggle: () => void, nameOf: (id: string) => string }): ReactNode {
  return (
    <>
      <tr className={open ? 'selected' : undefined}>
        <td>
          <button type='button' className='link' aria-expanded={open} onClick={onToggle}>{account.label ?? nameOf(account.id)}</button>
          <div className='small mono muted' title={account.id}>{shortId(account.id)}</div>
        </td>
        <td>{account.roles.join(', ')}</td><td className='num'>{account.ops}</td>
        <td className='num'>{wh(account.balanceWh)}</td><td className='num'>{wh(account.spendableWh)}</td>
        <td>{account.frozen ? <span className='pill pill-bad'>frozen</span> : <span className='pill'>ok</span>}</td>
      </tr>
      {open && <tr><td colSpan={6}><ChainOps account={account.id} nameOf={nameOf} /></td></tr>}
    </>
  )
}

/** An account's ops and the ops that touch it (GET /accounts/{id}/history), a page at a time. */
function ChainOps ({ account, nameOf }: { account: string, nameOf: (id: string) => string }): ReactNode {
  const [pages, setPages] = useState<HistoryPage[]>([])
  const [error, setError] = useState<unknown>(null)
  const [loading, setLoading] = useState(false)
  const next = pages.length === 0 ? undefined : pages[pages.length - 1]?.next
  const load = async (before?: string): Promise<void> => {
    setLoading(true)
    try {
      const page = await accountHistory(account, { limit: 20, ...(before != null ? { before } : {}) })
      setPages(p => [...p, page])
    } catch (err) { setError(err) } finally { setLoading(false) }
  }
  useEffect(() => { void load() }, [account]) // eslint-disable-line react-hooks/exhaustive-deps
  const entries = pages.flatMap(p => p.entries)
  return (
    <div className='chain-ops'>
      {entries.length === 0 && !loading && error === null && <Empty>No ops touch this account.</Empty>}
      {entries.length > 0 && (
        <table className='small'>
          <caption className='sr-only'>Ops of {nameOf(account)}</caption>
          <thead><tr><th scope='col'>Op</th><th scope='col'>Kind</th><th scope='col'>Author</th><th scope='col' className='num'>Seq</th><th scope='col'>Status</th><th scope='col' className='num'>Δ Wh</th></tr></thead>
          <tbody>{entries.map(e => (
            <tr key={e.cursor}><td><code title={e.id}>{e.id.slice(0, 12)}</code></td><td>{e.kind}</td><td>{e.author === account ? 'itself' : nameOf(e.author)}</td>
              <td className='num'>{e.seq}</td><td>{e.status}</td><td className='num'>{e.deltaWh > 0 ? `+${e.deltaWh}` : e.deltaWh}</td></tr>
          ))}</tbody>
        </table>
      )}
      {next != null && <button type='button' className='secondary' disabled={loading} onClick={() => { void load(next) }}>Older ops</button>}
      <ErrorNote error={error} />
    </div>
  )
}
