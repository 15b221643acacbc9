/**
 * Settlement: the seller's node pays a receipt in energy by itself. A receipt names a payee (a producer
 * for wholesale-seller; the utility or a producer for retail-seller); the node holding that payee's key
 * signs the sale transfer `{ contract, to: payer, wh: ⌊amount × 1,000,000 ÷ price⌋, receipt, window: null }`
 * at the price the receipt recorded (the price the payer saw), once per payment id. It does so when the
 * receipt arrives, and at start and after each sync for receipts it missed while offline. A receipt that
 * can never settle (no price in its past, less than 1 Wh) or that the seller cannot cover yet is reported
 * by `unsettled()` and tried again when new ops arrive, never spun on.
 *
 * `inTurn` / `signInTurn` serialize signing per key on a node: `MicrogridNode.sign` drafts the op from the
 * state before the ledger applies it, so two concurrent signs of one key would draft the same seq (a fork,
 * which freezes the key). Every service here signs through them.
 */
import {
  accountId, toHex,
  type AccountId, type BodyOf, type OpKind, type OpSigner, type PublicKey, type SaleContract
} from '@microgrid/protocol'
import { systemClock, whForPayment, type Clock, type IngestResult, type LedgerState } from '@microgrid/core'
import type { MicrogridNode } from './node.ts'

// -------------------------------------------------------------------------------------------------
// Signing one op at a time per key

const turns = new WeakMap<object, Map<string, Promise<void>>>()

/**
 * Runs `task` once every earlier task queued for the same key on the same node has finished (whatever
 * its outcome): a lock per (node, key). Use it around anything that drafts and signs an op of `key`.
 */
export async function inTurn<T> (node: object, key: PublicKey, task: () => Promise<T>): Promise<T> {
  let byKey = turns.get(node)
  if (byKey === undefined) turns.set(node, byKey = new Map())
  const hex = toHex(key)
  const run = (byKey.get(hex) ?? Promise.resolve()).then(task)
  const done = run.then(() => {}, () => {})
  byKey.set(hex, done)
  void done.then(() => { if (byKey.get(hex) === done) byKey.delete(hex) })
  return await run
}

/**
 * Signs and submits the next op of `signer` in its turn (see `inTurn`). `body` may be a function of the
 * state at the moment of signing, returning undefined to sign nothing (a check made inside the turn, so
 * no other op of the key can change its answer before the op is applied). Refuses to sign while the
 * node holds ops of the signer it has not decided (its head may be further than this node knows) or
 * while the signer is frozen: resolves to undefined then too.
 */
export async function signInTurn<K extends OpKind> (
  node: MicrogridNode, signer: OpSigner, kind: K, body: BodyOf[K] | ((state: LedgerState) => BodyOf[K] | undefined)
): Promise<(IngestResult & { bytes: Uint8Array }) | undefined> {
  return await inTurn(node, signer.publicKey, async () => {
    const state = node.ledger.state
    if (!canSign(state, signer.publicKey)) return undefined
    const b = typeof body === 'function' ? (body as (s: LedgerState) => BodyOf[K] | undefined)(state) : body
    if (b === undefined) return undefined
    return await node.sign(signer, kind, b)
  })
}

/** Whether this replica may sign the next op of `key`: nothing of it undecided here, not frozen. */
export function canSign (state: LedgerState, key: PublicKey): boolean {
  const chain = state.findChain(key)
  if (chain === undefined) return true
  if (Number.isFinite(chain.frozenFrom)) return false
  // Ops of the key waiting here (pending or frozen) mean its head may be further than this replica
  // decided. Void ops (a losing branch, above the head after an unfreeze) do not hold it back.
  return state.heldOf(key).undecided === 0
}

// -------------------------------------------------------------------------------------------------
// The settlement service

export interface SettlementInit {
  node: MicrogridNode
  /** The payee keys this node settles for: producers' and the utility's accounts. */
  sellers: OpSigner[]
  /** For the age of unsettled receipts; default the system clock (the node signs with its own clock). */
  clock?: Clock
  /** Called after each sale this service signed, whatever the ledger decided. */
  onSale?: (sale: SaleAttempt) => void
  /** Called when signing a sale failed (the node stopping, storage failing); the receipt is tried again later. */
  onError?: (err: unknown) => void
}

/** Why a receipt is not settled (yet). */
export type UnsettledReason =
  /** The receipt's past holds no price of the payee for its contract: it can never settle. */
  | 'no-price'
  /** The amount buys less than 1 Wh at the receipt's price: it can never settle. */
  | 'payment-too-small'
  /** The payee does not hold the energy yet: settled once it does. */
  | 'insufficient-funds'
  /** The payee's chain is frozen by a fork: settled once a registrar lifts the freeze. */
  | 'seller-frozen'
  /** This node holds ops of the payee it has not decided yet: tried again once they are. */
  | 'seller-undecided'
  /** This node signed the sale and the ledger rejected it (`RejectCode` after the colon): tried again once the payee's balance or chain changes. */
  | `rejected:${string}`

/** A receipt no sale has settled, as `unsettled()` lists it. Account ids are `mg1…` text. */
export interface UnsettledReceipt {
  oracle: AccountId
  seq: number
  payer: AccountId
  payee: AccountId
  contract: SaleContract
  /** Fiat in minor units of `currency`. */
  amount: number
  currency: string
  paymentId: string
  /** The payee's price the receipt recorded (minor units per MWh), or null: it can never settle. */
  price: number | null
  /** What the sale must transfer, or null without a price. */
  wh: number | null
  /** Since the receipt's ts, by this service's clock. */
  ageMs: number
  /** Whether the payee could settle it now with what this replica holds. */
  settleable: boolean
  /** Why it is not settled: see `UnsettledReason`; absent when it only waits for the payee's node. */
  reason?: UnsettledReason
  /** Whether this node holds the payee's key (this service settles it). */
  mine: boolean
}

/** A sale this service signed. */
export interface SaleAttempt {
  oracle: PublicKey
  seq: number
  paymentId: string
  seller: PublicKey
  wh: number
  result: IngestResult
}

export interface SettlementService {
  /** Every receipt of the ledger no sale settled (whoever the payee), oldest first. */
  unsettled: () => UnsettledReceipt[]
  /** Scans every receipt naming this node's sellers and settles what it can; resolves when done. */
  settleNow: () => Promise<SaleAttempt[]>
  /** Sales this service signed and the ledger applied since it started. */
  readonly settled: number
  stop: () => Promise<void>
}

interface Candidate {
  oracle: PublicKey
  seq: number
  seller: OpSigner
  ts: number
  reason?: UnsettledReason
  /** The seller's balance, chain length and freeze when the ledger rejected this node's sale: not signed again until one changes. */
  rejectedAt?: string
}

const positionOf = (oracleHex: string, seq: number): string => `${oracleHex}:${seq}`

/**
 * Starts settling the receipts that name `sellers` as payee. Scans the ledger at start (on the next
 * turn of the event loop), after each sync that brought ops, and whenever ops arrive while a receipt of
 * this node waits.
 */
export function settlementService ({ node, sellers, clock = systemClock, onSale, onError }: SettlementInit): SettlementService {
  const sellerByHex = new Map(sellers.map(s => [toHex(s.publicKey), s]))
  /** Receipts naming one of this node's sellers that may still settle, by position. */
  const open = new Map<string, Candidate>()
  /** Receipts naming one of this node's sellers that can never settle (reported, never signed). */
  const never = new Map<string, UnsettledReason>()
  let settled = 0
  let stopped = false
  let chain: Promise<void> = Promise.resolve()
  let queued: { full: boolean } | undefined

  const state = (): LedgerState => node.ledger.state

  /** Adds the unsettled receipts of this node's sellers the ledger holds. */
  const collect = (): void => {
    const s = state()
    for (const { oracle, seq, receipt, settled: done } of s.receipts()) {
      if (done) continue
      const payee = s.chains[receipt.payee]
      const seller = payee === undefined ? undefined : sellerByHex.get(payee.hex)
      if (seller === undefined) continue
      const at = positionOf(oracle.hex, seq)
      if (open.has(at) || never.has(at) || s.isSettled(receipt.paymentId)) continue
      open.set(at, { oracle: oracle.key, seq, seller, ts: oracle.tsAt?.[seq] ?? 0 })
    }
  }

  const attempt = async (at: string, c: Candidate): Promise<SaleAttempt | undefined> => {
    const s = state()
    const r = s.receiptAt(c.oracle, c.seq)
    if (r === undefined || s.isSettled(r.paymentId)) { open.delete(at); return undefined }
    const verdict = saleOf(r)
    if ('never' in verdict) { open.delete(at); never.set(at, verdict.never); return undefined }
    const chain = s.findChain(c.seller.publicKey)
    if (chain === undefined) return undefined
    if (Number.isFinite(chain.frozenFrom)) { c.reason = 'seller-frozen'; return undefined }
    if (!canSign(s, c.seller.publicKey)) { c.reason = 'seller-undecided'; return undefined }
    if (chain.balance < verdict.wh) { c.reason = 'insufficient-funds'; return undefined }
    if (c.rejectedAt !== undefined && c.rejectedAt === fingerprint(s, c.seller.publicKey)) return undefined
    const body: BodyOf['transfer'] = { contract: r.contract, to: r.payer, wh: verdict.wh, receipt: [c.oracle, c.seq], window: null }
    // Checked again in the seller's turn: another sale of this payment may have been applied meanwhile.
    const result = await signInTurn(node, c.seller, 'transfer', now => now.isSettled(r.paymentId) ? undefined : body)
    if (result === undefined) {
      if (state().isSettled(r.paymentId)) open.delete(at)
      else c.reason = 'seller-undecided'
      return undefined
    }
    const sale: SaleAttempt = { oracle: c.oracle, seq: c.seq, paymentId: r.paymentId, seller: c.seller.publicKey, wh: verdict.wh, result }
    if (result.status === 'applied') {
      open.delete(at)
      settled++
    } else {
      c.reason = `rejected:${result.status === 'rejected' ? result.code : result.status}`
      c.rejectedAt = fingerprint(state(), c.seller.publicKey)
    }
    onSale?.(sale)
    return sale
  }

  const scan = async (full: boolean): Promise<SaleAttempt[]> => {
    if (full) collect()
    const sales: SaleAttempt[] = []
    // Oldest first; a receipt the seller cannot cover yet does not hold up later ones it can.
    const ordered = [...open].sort(([a, x], [b, y]) => x.ts - y.ts || (a < b ? -1 : a > b ? 1 : 0))
    for (const [at, c] of ordered) {
      if (stopped) break
      const sale = await attempt(at, c).catch((err: unknown) => { if (!stopped) onError?.(err); return undefined })
      if (sale !== undefined) sales.push(sale)
    }
    return sales
  }

  /** Scans one after another, never overlapping. */
  const enqueue = (scanFull: () => boolean): Promise<SaleAttempt[]> => {
    const run = chain.then(async () => stopped ? [] : await scan(scanFull()))
    chain = run.then(() => {}, () => {})
    return run
  }

  /** Queues a scan unless one is already queued and not started (bursts of ops coalesce into one). */
  const schedule = (full: boolean): void => {
    if (stopped) return
    if (queued !== undefined) { queued.full ||= full; return }
    const q = queued = { full }
    void enqueue(() => { queued = undefined; return q.full })
  }

  const offOp = node.on('op', result => {
    if (result.status !== 'applied') return
    const { op } = result
    if (op.kind === 'receipt' && sellerByHex.has(toHex(op.body.payee))) {
      const s = state()
      const oracle = s.findChain(op.author)
      const at = oracle === undefined ? undefined : positionOf(oracle.hex, op.seq)
      if (oracle !== undefined && at !== undefined && !open.has(at) && !never.has(at)) {
        open.set(at, { oracle: oracle.key, seq: op.seq, seller: sellerByHex.get(toHex(op.body.payee)) as OpSigner, ts: op.ts })
      }
      schedule(false)
    } else if (open.size > 0) {
      // New ops may bring a waiting seller its energy, decide its chain or lift its freeze.
      schedule(false)
    }
  })
  const offSync = node.on('sync:done', ({ received }) => { if (received > 0) schedule(true) })
  schedule(true)

  return {
    unsettled: () => unsettledReceipts(state(), clock.now(), sellerByHex, open),
    settleNow: async () => await enqueue(() => true),
    get settled () { return settled },
    stop: async () => {
      stopped = true
      offOp()
      offSync()
      await chain
    }
  }
}

/** What a sale of this receipt must transfer, or why no sale ever can. */
function saleOf (r: { amount: number, price: number | null }): { wh: number } | { never: UnsettledReason } {
  if (r.price === null) return { never: 'no-price' }
  const wh = whForPayment(r.amount, r.price)
  return wh === 0 ? { never: 'payment-too-small' } : { wh }
}

function fingerprint (s: LedgerState, key: PublicKey): string {
  const c = s.findChain(key)
  return c === undefined ? '' : `${c.balance}:${c.length}:${c.frozenFrom}`
}

function unsettledReceipts (s: LedgerState, now: number, sellers: ReadonlyMap<string, OpSigner>, open: ReadonlyMap<string, Candidate>): UnsettledReceipt[] {
  const out: UnsettledReceipt[] = []
  for (const { oracle, seq, receipt, settled } of s.receipts()) {
    if (settled || s.isSettled(receipt.paymentId)) continue
    const payer = s.chains[receipt.payer]
    const payee = s.chains[receipt.payee]
    if (payer === undefined || payee === undefined) continue
    const sale = saleOf(receipt)
    let reason: UnsettledReason | undefined
    let settleable = false
    if ('never' in sale) reason = sale.never
    else if (Number.isFinite(payee.frozenFrom)) reason = 'seller-frozen'
    else if (payee.balance < sale.wh) reason = 'insufficient-funds'
    else {
      settleable = true
      reason = open.get(positionOf(oracle.hex, seq))?.reason
      if (reason === 'insufficient-funds' || reason === 'seller-frozen') reason = undefined // stale: it is settleable now
    }
    const ts = oracle.tsAt?.[seq] ?? now
    out.push({
      oracle: accountId(oracle.key),
      seq,
      payer: accountId(payer.key),
      payee: accountId(payee.key),
      contract: receipt.contract,
      amount: receipt.amount,
      currency: s.genesis.currency,
      paymentId: receipt.paymentId,
      price: receipt.price,
      wh: 'wh' in sale ? sale.wh : null,
      ageMs: Math.max(0, now - ts),
      settleable,
      ...(reason !== undefined ? { reason } : {}),
      mine: sellers.has(payee.hex)
    })
  }
  return out.sort((a, b) => b.ageMs - a.ageMs)
}
