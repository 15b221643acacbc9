/**
 * An account's history: the decided ops that touch it, newest first — its own ops, the ops that
 * credited it (transfers to it, its meter's mints, refunds of funding windows), receipts naming it as
 * payer or payee, and its registration. Ops are read back from storage page by page: every chain
 * involved is already in ts order along its seqs, so a page merges those chains from the cursor down
 * and loads only about the ops it returns (a binary search per chain to find the cursor).
 */
import { bytesEqual, decodeOp, toHex, type DecodedOp } from '@microgrid/protocol'
import { opKey, OpStatus, type ChainView, type Ledger } from '@microgrid/core'
import { ApiError } from './errors.ts'
import { renderValue } from './render.ts'
import { idOf } from './context.ts'

export interface HistoryEntry {
  cursor: string
  id: string
  kind: string
  author: string
  seq: number
  ts: number
  status: 'accepted' | 'rejected'
  deltaWh: number
  body: unknown
}

interface Group {
  chain: ChainView
  /** Seqs of the chain that touch the account, ascending. */
  seqs: number[]
  /** Wh credited to the account by the op at a seq. */
  credits: Map<number, number>
  /** Index of the next seq to take (going down). */
  at: number
}

interface Cursor { ts: number, hex: string, seq: number }

/** Parses `before`: a cursor from a previous page (`<ts>.<author hex>.<seq>`), or a time in ms (entries strictly before it). */
export function parseCursor (text: string): Cursor {
  if (/^\d{1,16}$/.test(text)) return { ts: Number(text), hex: '', seq: -1 }
  const m = /^(\d{1,16})\.([0-9a-f]{66})\.(\d{1,12})$/.exec(text)
  if (m === null) throw new ApiError(400, 'bad-request', 'query.before: expected a cursor from a previous page ("next") or a time in ms since the epoch')
  return { ts: Number(m[1]), hex: m[2] as string, seq: Number(m[3]) }
}

const compare = (a: Cursor, b: Cursor): number => a.ts - b.ts || (a.hex < b.hex ? -1 : a.hex > b.hex ? 1 : 0) || a.seq - b.seq

export async function historyOf (ledger: Ledger, account: ChainView, before: Cursor | null, limit: number): Promise<{ entries: HistoryEntry[], next: string | null }> {
  const state = ledger.state
  const groups = new Map<number, Group>()
  const group = (chain: ChainView): Group => {
    let g = groups.get(chain.idx)
    if (g === undefined) groups.set(chain.idx, g = { chain, seqs: [], credits: new Map(), at: 0 })
    return g
  }
  if (account.length > 0) group(account).seqs.push(...Array.from({ length: account.length }, (_, i) => i))
  for (const idx of account.creditors) {
    const creditor = state.chains[idx] as ChainView
    const list = creditor.credits.get(account.idx)
    if (list === undefined) continue
    const g = group(creditor)
    const e = list.entries
    for (let i = 0; i < e.length / 2; i++) {
      const seq = e[2 * i] as number
      const wh = (e[2 * i + 1] as number) - (i > 0 ? e[2 * i - 1] as number : 0)
      g.seqs.push(seq)
      g.credits.set(seq, (g.credits.get(seq) ?? 0) + wh)
    }
  }
  for (const { oracle, seq, receipt } of state.receipts()) {
    if (receipt.payer === account.idx || receipt.payee === account.idx) group(oracle).seqs.push(seq)
  }
  for (const r of state.registrationLists().get(account.idx) ?? []) group(state.chains[r.registrar] as ChainView).seqs.push(r.seq)
  for (const g of groups.values()) {
    g.seqs = [...new Set(g.seqs)].filter(s => s < g.chain.length).sort((a, b) => a - b)
  }

  const loaded = new Map<string, DecodedOp>()
  const load = async (chain: ChainView, seq: number): Promise<DecodedOp> => {
    const key = `${chain.idx}:${seq}`
    let op = loaded.get(key)
    if (op === undefined && seq === 0 && bytesEqual(chain.idAt(0), ledger.genesis.id)) op = ledger.genesis // stored apart
    if (op === undefined) {
      const bytes = await ledger.storage.load(opKey(chain.hex, seq, chain.idAt(seq)))
      if (bytes === undefined) throw new ApiError(500, 'internal', `op ${chain.hex}:${seq} is missing from storage`)
      op = decodeOp(bytes)
      loaded.set(key, op)
    }
    return op
  }
  const tsOf = async (chain: ChainView, seq: number): Promise<number> => chain.tsAt?.[seq] ?? (await load(chain, seq)).op.ts
  const keyOf = async (g: Group, i: number): Promise<Cursor> => ({ ts: await tsOf(g.chain, g.seqs[i] as number), hex: g.chain.hex, seq: g.seqs[i] as number })

  // Position each group just below the cursor: the last seq whose key is below it.
  for (const g of groups.values()) {
    if (before === null) { g.at = g.seqs.length - 1; continue }
    let lo = 0
    let hi = g.seqs.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (compare(await keyOf(g, mid), before) < 0) lo = mid + 1
      else hi = mid
    }
    g.at = lo - 1
  }

  const entries: HistoryEntry[] = []
  const heads = new Map<Group, Cursor>()
  for (const g of groups.values()) if (g.at >= 0) heads.set(g, await keyOf(g, g.at))
  while (entries.length < limit && heads.size > 0) {
    let best: [Group, Cursor] | undefined
    for (const h of heads) if (best === undefined || compare(h[1], best[1]) > 0) best = h
    const [g, key] = best as [Group, Cursor]
    const decoded = await load(g.chain, key.seq)
    const accepted = g.chain.status[key.seq] === OpStatus.accepted
    let delta = g.credits.get(key.seq) ?? 0
    if (g.chain.idx === account.idx && accepted) delta -= outOf(account, decoded)
    entries.push({
      cursor: `${key.ts}.${key.hex}.${key.seq}`,
      id: toHex(decoded.id),
      kind: decoded.op.kind,
      author: idOf(decoded.op.author),
      seq: key.seq,
      ts: key.ts,
      status: accepted ? 'accepted' : 'rejected',
      deltaWh: delta,
      body: renderValue(decoded.op.body)
    })
    g.at--
    if (g.at >= 0) heads.set(g, await keyOf(g, g.at))
    else heads.delete(g)
  }
  const more = heads.size > 0
  return { entries, next: more && entries.length > 0 ? (entries.at(-1) as HistoryEntry).cursor : null }
}

/** Wh that left the account with its own accepted op: a transfer, a burn, or the refunds of windows its op closed. */
function outOf (account: ChainView, decoded: DecodedOp): number {
  const { op } = decoded
  if (op.kind === 'mint') return 0
  let out = op.kind === 'burn' ? op.body.wh : 0
  for (const list of account.credits.values()) {
    const e = list.entries
    // Entries are in seq order: find the one at this seq, if any.
    let lo = 0
    let hi = e.length / 2
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((e[2 * mid] as number) < op.seq) lo = mid + 1
      else hi = mid
    }
    for (; lo < e.length / 2 && e[2 * lo] === op.seq; lo++) out += (e[2 * lo + 1] as number) - (lo > 0 ? e[2 * lo - 1] as number : 0)
  }
  return out
}
