/**
 * The replica the UI keeps (docs/API.md, "POST /replica"): one Y.Doc per API instance, under a random
 * epoch, holding the node's view in the shapes of the read endpoints — `status`, `accounts`,
 * `devices`, `prices`, `receipts`, `forks` maps and the `recent` array of the last ops decided.
 *
 * Built from the ledger when the API starts, then kept current from the node's events: each op marks
 * what it touched (accounts, devices whose funds moved, sellers, receipts), and at most once per
 * `flushMs` one doc transaction writes the entries whose JSON changed. Time moves some values by
 * itself (a device's funding windows open and end, `status.time`): every `refreshMs` the devices
 * with windows and the status are computed again. A fork or an unfreeze can change verdicts far back
 * (the ledger decides chains again): then every entry is computed again and only changes are written.
 *
 * Accounts, devices and receipts are written slim (`slimAccount`, `slimDevice`, `slimReceipt`): without
 * what a client derives from the entry's key, the status or the clock, and without null, false or empty
 * fields; the UI's data layer expands them back into the read endpoints' shapes.
 */
import { randomBytes } from 'node:crypto'
import * as Y from 'yjs'
import { decodeOp, toHex, type PublicKey } from '@microgrid/protocol'
import { OpStatus, opKey, receiptPosition, RECEIPT_SPAN, type ChainView, type IngestResult, type LedgerState } from '@microgrid/core'
import { currencyDigits, idOf, isListed, type ApiContext, type ReplicaOptions } from './context.ts'

export type { ReplicaOptions }
import { EventHub, type HubClient } from './events.ts'
import { renderResult, type OpResultJson } from './render.ts'
import { accountJson, type AccountJson } from './routes/accounts.ts'
import { deviceJson, type DeviceJson } from './routes/devices.ts'
import { forksJson, receiptJson, sellerJson, serviceView, type ReceiptJson, type ServiceView } from './routes/market.ts'
import { statusJson } from './routes/status.ts'

/** How many decided ops `recent` keeps. */
export const RECENT_OPS = 200

/** An op event of `GET /events`, as `recent` holds it. */
export type RecentOp = Omit<OpResultJson, 'missing' | 'op'>

type MapName = 'status' | 'accounts' | 'devices' | 'prices' | 'receipts' | 'forks'

/** The statuses that say what became of an op: `recent` keeps these (not pending, duplicate or dropped). */
const DECIDED = new Set(['applied', 'rejected', 'void', 'frozen'])

/**
 * The accounts an applied or rejected op changed: its author, a transfer's recipient, the producer a
 * mint credits, the account a registration or unfreeze names, and the funders of a device's closing
 * windows. Shared with `/events` (its balance events).
 */
export function touchedChains (state: LedgerState, r: Extract<IngestResult, { status: 'applied' | 'rejected' }>): Map<string, ChainView> {
  const touched = new Map<string, ChainView>()
  const touch = (chain: ChainView | undefined): void => { if (chain !== undefined) touched.set(chain.hex, chain) }
  const op = r.op
  const author = state.findChain(op.author)
  touch(author)
  if (op.kind === 'transfer') touch(state.findChain(op.body.to))
  if (op.kind === 'mint') {
    const reg = state.registrationOf(op.author)
    if (reg?.body.role === 'producer') touch(state.findChain(reg.body.account))
  }
  if (op.kind === 'register') {
    const b = op.body
    touch(state.findChain(b.role === 'consumer' ? b.meter : b.account))
    if (b.role === 'producer') touch(state.findChain(b.meter))
  }
  if (op.kind === 'unfreeze') touch(state.findChain(op.body.account))
  // A device's op may close funding windows: what is left goes back to their funders.
  if (author?.funds !== null && author?.funds !== undefined) for (const idx of author.funds.funders.keys()) touch(state.chains[idx])
  return touched
}

/** An account as the doc holds it: its id is the key, its `role` the first of `roles`; `label` null and `frozen` false omitted. */
export type SlimAccount = Omit<AccountJson, 'id' | 'role' | 'label' | 'frozen'> & { label?: string, frozen?: true }

export function slimAccount ({ id: _key, role: _first, label, frozen, ...rest }: AccountJson): SlimAccount {
  return { ...rest, ...(label !== null && { label }), ...(frozen && { frozen }) }
}

type FundsJson = DeviceJson['funds']
/** A device's funds in the doc: `nextChange` null and empty `windows` / `funders` omitted. */
export type SlimFunds = Omit<FundsJson, 'nextChange' | 'windows' | 'funders'> & Partial<Pick<FundsJson, 'windows' | 'funders'>> & { nextChange?: number }

/**
 * A device as the doc holds it: its id is the key, its `qr` made from the id and the status's grid id;
 * `position` and `meter` null and `frozen` false omitted; its funds slim.
 */
export type SlimDevice = Omit<DeviceJson, 'id' | 'qr' | 'position' | 'frozen' | 'meter' | 'funds'> &
  { position?: NonNullable<DeviceJson['position']>, frozen?: true, meter?: NonNullable<DeviceJson['meter']>, funds: SlimFunds }

export function slimDevice ({ id: _key, qr: _derived, position, frozen, meter, funds, ...rest }: DeviceJson): SlimDevice {
  const { nextChange, windows, funders, ...figures } = funds
  return {
    ...rest,
    ...(position !== null && { position }),
    ...(frozen && { frozen }),
    ...(meter !== null && { meter }),
    funds: { ...figures, ...(nextChange !== null && { nextChange }), ...(windows.length > 0 && { windows }), ...(funders.length > 0 && { funders }) }
  }
}

/**
 * A receipt as the doc holds it: the price as `minorPerMWh` (omitted when null); `amountDollars`,
 * `currency`, `price.dollarsPerKWh` and `wh` derived from it and the status's currency; `ageMs` from
 * `ts` and the status's `time`; `settleable` false, `reason` / `message` / `mine` null omitted.
 */
export type SlimReceipt = Omit<ReceiptJson, 'amountDollars' | 'currency' | 'price' | 'wh' | 'ageMs' | 'settleable' | 'reason' | 'message' | 'mine'> &
  { minorPerMWh?: number, settleable?: true, reason?: string, message?: string, mine?: boolean }

export function slimReceipt (r: ReceiptJson): SlimReceipt {
  const { amountDollars: _a, currency: _c, price, wh: _w, ageMs: _age, settleable, reason, message, mine, ...rest } = r
  return {
    ...rest,
    ...(price !== null && { minorPerMWh: price.minorPerMWh }),
    ...(settleable && { settleable }),
    ...(reason !== null && { reason }),
    ...(message !== null && { message }),
    ...(mine !== null && { mine })
  }
}

const positionChain = (p: number): number => Math.floor(p / RECEIPT_SPAN)
const positionSeq = (p: number): number => p % RECEIPT_SPAN

export class Replica {
  /** This doc instance's id: a client that saw another epoch throws its replica away. */
  readonly epoch = randomBytes(12).toString('base64url')
  readonly doc = new Y.Doc()
  /** Resolves once the doc holds everything (forks and recent ops are read from storage). */
  readonly ready: Promise<void>
  readonly #ctx: ApiContext
  readonly #hub: EventHub
  readonly #flushMs: number
  readonly #statusMs: number
  #lastStatus = Number.NEGATIVE_INFINITY
  readonly #cache = new Map<MapName, Map<string, string>>()
  readonly #offs: Array<() => void> = []
  // What changed since the last transaction.
  readonly #accounts = new Set<number>()
  readonly #devices = new Set<string>()
  readonly #sellers = new Set<number>()
  readonly #receipts = new Set<number>()
  #recent: RecentOp[] = []
  #status = false
  #forks = false
  #tick = false
  #ops = false
  // Indexes of the receipts: their map keys, and the unsettled ones by payee, payer and payment id.
  readonly #receiptKeys = new Map<number, string>()
  readonly #unsettled = new Map<number, { payee: number, payer: number, paymentId: string }>()
  readonly #unsettledBy = new Map<string, Set<number>>()
  /** Devices whose funds have windows (they change with time alone). */
  readonly #windowed = new Set<string>()
  #rewinds: number
  #forkCount: number
  #timer: NodeJS.Timeout | undefined
  #lastFlush = 0
  #flushing: Promise<void> | undefined
  #disposed = false

  constructor (ctx: ApiContext, options: ReplicaOptions = {}) {
    this.#ctx = ctx
    this.#flushMs = options.flushMs ?? 200
    this.#statusMs = options.statusMs ?? 2_000
    this.#hub = new EventHub(options.maxQueue ?? 2_000)
    for (const name of ['status', 'accounts', 'devices', 'prices', 'receipts', 'forks'] as const) this.#cache.set(name, new Map())
    this.doc.on('update', (update: Uint8Array) => { this.#hub.publishText('update', Buffer.from(update).toString('base64')) })
    this.#rewinds = ctx.node.ledger.rewinds
    this.#forkCount = ctx.node.ledger.state.equivocations.length
    this.doc.transact(() => { this.#computeAll() })
    const recent = this.#recentPositions()
    this.ready = this.#loadRest(recent)
    this.#listen(options.refreshMs ?? 10_000)
  }

  /** A client of the live updates (each event's data is the JSON text of a base64 update). */
  subscribe (): HubClient {
    return this.#hub.subscribe()
  }

  /** Everything the doc holds that `stateVector` (a client's `Y.encodeStateVector`) lacks. */
  updateFor (stateVector: Uint8Array | undefined): Uint8Array {
    return stateVector === undefined ? Y.encodeStateAsUpdate(this.doc) : Y.encodeStateAsUpdate(this.doc, stateVector)
  }

  /** Writes everything pending now, the status included (tests; timers do it otherwise). */
  async flush (): Promise<void> {
    await this.#flush(true)
  }

  async #flush (all: boolean): Promise<void> {
    await this.ready
    while (this.#flushing !== undefined) await this.#flushing
    this.#flushing = this.#flushNow(all).finally(() => { this.#flushing = undefined })
    await this.#flushing
  }

  /** Detaches from the node, ends every stream and frees the doc. */
  dispose (): void {
    if (this.#disposed) return
    this.#disposed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    for (const off of this.#offs.splice(0)) off()
    this.#hub.closeAll()
    this.doc.destroy()
  }

  // -------------------------------------------------------------------------------------------------
  // Events

  #listen (refreshMs: number): void {
    const { node } = this.#ctx
    this.#offs.push(node.on('op', r => { this.#onOp(r) }))
    this.#offs.push(node.on('meter:report', e => { this.#devices.add(e.device); this.#schedule() }))
    this.#offs.push(node.on('sync:done', () => { this.#status = true; this.#schedule() }))
    const peers = (): void => { this.#status = true; this.#schedule() }
    node.libp2p.addEventListener('peer:connect', peers)
    node.libp2p.addEventListener('peer:disconnect', peers)
    this.#offs.push(() => { node.libp2p.removeEventListener('peer:connect', peers); node.libp2p.removeEventListener('peer:disconnect', peers) })
    const refresh = setInterval(() => {
      for (const hex of this.#windowed) this.#devices.add(hex)
      this.#tick = true
      this.#schedule()
    }, refreshMs)
    refresh.unref()
    this.#offs.push(() => { clearInterval(refresh) })
  }

  #onOp (r: IngestResult): void {
    if (this.#disposed || r.status === 'invalid') return
    if (DECIDED.has(r.status)) {
      const { op: _bytes, missing: _missing, ...event } = renderResult(r)
      this.#recent.push(event)
      if (this.#recent.length > RECENT_OPS) this.#recent.splice(0, this.#recent.length - RECENT_OPS)
    }
    this.#status = true
    if (r.status === 'void' || r.status === 'frozen') this.#forks = true
    if (r.status === 'applied' || r.status === 'rejected') {
      this.#ops = true
      const state = this.#ctx.node.ledger.state
      for (const chain of touchedChains(state, r).values()) this.#touch(state, chain)
      const op = r.op
      const author = state.findChain(op.author)
      if (author !== undefined) {
        if (op.kind === 'price') this.#sellers.add(author.idx)
        if (op.kind === 'receipt') this.#receipts.add(receiptPosition(author.idx, op.seq))
        if (op.kind === 'unfreeze') this.#forks = true
      }
      if (op.kind === 'register') {
        const b = op.body
        const seller = state.findChain(b.role === 'consumer' ? b.meter : b.account)
        if (seller !== undefined && b.role !== 'consumer') this.#sellers.add(seller.idx)
      }
      if (op.kind === 'transfer' && op.body.receipt !== null) {
        const oracle = state.findChain(op.body.receipt[0])
        if (oracle !== undefined) {
          const position = receiptPosition(oracle.idx, op.body.receipt[1])
          this.#receipts.add(position)
          // Other receipts of the same payment are now already settled.
          const paymentId = state.parts().receipts.paymentIdAt(position)
          if (paymentId !== undefined) for (const p of this.#unsettledBy.get(`payment:${paymentId}`) ?? []) this.#receipts.add(p)
        }
      }
    }
    this.#schedule()
  }

  /** An account changed: its entry, its device entry, and the unsettled receipts it pays or is paid. */
  #touch (state: LedgerState, chain: ChainView): void {
    this.#accounts.add(chain.idx)
    if (state.hasRole(chain.idx, 'device')) this.#devices.add(chain.hex)
    for (const side of ['payee', 'payer']) for (const p of this.#unsettledBy.get(`${side}:${chain.idx}`) ?? []) this.#receipts.add(p)
  }

  #schedule (later = 0): void {
    if (this.#disposed || this.#timer !== undefined) return
    const wait = Math.max(later, this.#lastFlush + this.#flushMs - performance.now(), 0)
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#flush(false).catch(() => { this.#forks = true; this.#schedule() })
    }, wait)
    this.#timer.unref()
  }

  // -------------------------------------------------------------------------------------------------
  // Writing

  async #flushNow (all: boolean): Promise<void> {
    if (this.#disposed) return
    this.#lastFlush = performance.now()
    const ledger = this.#ctx.node.ledger
    const full = ledger.rewinds !== this.#rewinds
    this.#rewinds = ledger.rewinds
    const forkCount = ledger.state.equivocations.length
    const forks = full || this.#forks || forkCount !== this.#forkCount
    this.#forks = false
    this.#forkCount = forkCount
    const forkItems = forks ? await forksJson(this.#ctx) : undefined
    if (this.#disposed) return
    const recent = this.#recent
    this.#recent = []
    this.doc.transact(() => {
      if (full) this.#computeAll()
      else this.#computeDirty(all)
      if (forkItems !== undefined) this.#writeForks(forkItems)
      this.#pushRecent(recent)
    })
  }

  /** Sets a map entry when its JSON (less the volatile fields) changed; `undefined` deletes it. */
  #put<T> (name: MapName, key: string, value: T | undefined, volatile?: (v: T) => unknown): boolean {
    const cache = this.#cache.get(name) as Map<string, string>
    const map = this.doc.getMap(name)
    if (value === undefined) {
      if (!cache.delete(key)) return false
      map.delete(key)
      return true
    }
    const text = JSON.stringify(volatile === undefined ? value : volatile(value))
    if (cache.get(key) === text) return false
    cache.set(key, text)
    map.set(key, value)
    return true
  }

  /** Every entry computed again (at start, and after the ledger decided chains again); stale keys deleted. */
  #computeAll (): void {
    const state = this.#ctx.node.ledger.state
    const seen = new Set<string>()
    const sweep = (name: MapName): void => {
      for (const key of [...(this.#cache.get(name) as Map<string, string>).keys()]) if (!seen.has(key)) this.#put(name, key, undefined)
      seen.clear()
    }
    for (const chain of state.chains) if (isListed(state, chain)) { seen.add(idOf(chain.key)); this.#writeAccount(state, chain) }
    sweep('accounts')
    this.#windowed.clear()
    const now = this.#ctx.clock.now()
    for (const r of state.registrations()) {
      if (r.body.role !== 'consumer' || r.role !== 'consumer') continue
      seen.add(idOf(r.key))
      this.#writeDevice(state, r.key, now)
    }
    sweep('devices')
    const digits = currencyDigits(state.genesis.currency)
    for (const r of state.registrations()) {
      const seller = sellerJson(state, r, digits)
      if (seller !== null) { seen.add(seller.account); this.#put('prices', seller.account, seller) }
    }
    sweep('prices')
    const service = serviceView(this.#ctx)
    for (const position of [...this.#receiptKeys.keys()]) this.#forgetReceipt(position)
    for (const item of state.receipts()) {
      const position = receiptPosition(item.oracle.idx, item.seq)
      seen.add(this.#writeReceipt(state, position, item, service, now))
    }
    sweep('receipts')
    this.#writeStatus(true)
    this.#accounts.clear(); this.#devices.clear(); this.#sellers.clear(); this.#receipts.clear()
    this.#status = false; this.#tick = false; this.#ops = false
  }

  #computeDirty (flushAll: boolean): void {
    const state = this.#ctx.node.ledger.state
    const now = this.#ctx.clock.now()
    for (const idx of this.#accounts) {
      const chain = state.chains[idx]
      if (chain === undefined) continue
      if (isListed(state, chain)) this.#writeAccount(state, chain)
      else this.#put('accounts', idOf(chain.key), undefined)
    }
    for (const hex of this.#devices) {
      const chain = state.chainByHex(hex)
      if (chain !== undefined) this.#writeDevice(state, chain.key, now)
    }
    if (this.#sellers.size > 0) {
      const digits = currencyDigits(state.genesis.currency)
      for (const idx of this.#sellers) {
        const chain = state.chains[idx]
        const reg = chain === undefined ? undefined : state.registrationOf(chain.key)
        if (chain === undefined || reg === undefined) continue
        const seller = sellerJson(state, { key: chain.key, role: reg.role, body: reg.body }, digits)
        this.#put('prices', idOf(chain.key), seller ?? undefined)
      }
    }
    // With a settlement service, its verdict on every unsettled receipt may change with any op.
    if (this.#ctx.settlement !== undefined && this.#ops) for (const p of this.#unsettled.keys()) this.#receipts.add(p)
    if (this.#receipts.size > 0) {
      const store = state.parts().receipts
      const service = serviceView(this.#ctx)
      for (const position of this.#receipts) {
        const receipt = store.get(position)
        const oracle = state.chains[positionChain(position)]
        if (receipt === undefined || oracle === undefined) { this.#forgetReceipt(position); continue }
        this.#writeReceipt(state, position, { oracle, seq: positionSeq(position), receipt, settled: store.isSettled(position) }, service, now)
      }
    }
    // The status at most once per statusMs: what is left waits for a later flush.
    const wait = this.#lastStatus + this.#statusMs - performance.now()
    if (wait <= 0 || flushAll) {
      this.#writeStatus(this.#status || this.#tick)
      this.#status = false; this.#tick = false
    }
    this.#accounts.clear(); this.#devices.clear(); this.#sellers.clear(); this.#receipts.clear()
    this.#ops = false
    if (this.#status || this.#tick) queueMicrotask(() => { this.#schedule(wait) })
  }

  #writeAccount (state: LedgerState, chain: ChainView): void {
    this.#put('accounts', idOf(chain.key), slimAccount(accountJson(state, chain)))
  }

  #writeDevice (state: LedgerState, key: PublicKey, now: number): void {
    const reg = state.registrationOf(key)
    const id = idOf(key)
    if (reg === undefined || reg.role !== 'consumer' || reg.body.role !== 'consumer') { this.#put('devices', id, undefined); return }
    const device = deviceJson(this.#ctx, state, key, reg.body, now)
    const hex = toHex(key)
    if (device.funds.windows.length > 0) this.#windowed.add(hex)
    else this.#windowed.delete(hex)
    // `funds.at` moves with every computation: the entry is written when anything else changed.
    this.#put('devices', id, slimDevice(device), v => ({ ...v, funds: { ...v.funds, at: 0 } }))
  }

  /** Writes a receipt's entry (keyed by the receipt op's id) and indexes it if unsettled; returns its key. */
  #writeReceipt (state: LedgerState, position: number, item: Parameters<typeof receiptJson>[2], service: ServiceView, now: number): string {
    let key = this.#receiptKeys.get(position)
    if (key === undefined) {
      key = toHex(item.oracle.idAt(item.seq))
      this.#receiptKeys.set(position, key)
    }
    this.#unindex(position)
    if (!item.settled) {
      const r = item.receipt
      const entry = { payee: r.payee, payer: r.payer, paymentId: r.paymentId }
      this.#unsettled.set(position, entry)
      for (const k of [`payee:${r.payee}`, `payer:${r.payer}`, `payment:${r.paymentId}`]) {
        let set = this.#unsettledBy.get(k)
        if (set === undefined) this.#unsettledBy.set(k, set = new Set())
        set.add(position)
      }
    }
    // Not `ageMs`: it moves with the clock, a client derives it from `ts`.
    this.#put('receipts', key, slimReceipt(receiptJson(this.#ctx, state, item, service, now)))
    return key
  }

  #forgetReceipt (position: number): void {
    const key = this.#receiptKeys.get(position)
    this.#unindex(position)
    this.#receiptKeys.delete(position)
    if (key !== undefined) this.#put('receipts', key, undefined)
  }

  #unindex (position: number): void {
    const old = this.#unsettled.get(position)
    if (old === undefined) return
    this.#unsettled.delete(position)
    for (const k of [`payee:${old.payee}`, `payer:${old.payer}`, `payment:${old.paymentId}`]) {
      const set = this.#unsettledBy.get(k)
      set?.delete(position)
      if (set?.size === 0) this.#unsettledBy.delete(k)
    }
  }

  /** The status map: one key per field of `GET /status`; `time` and `updatedAt` with any change, or on the clock's tick. */
  #writeStatus (compute: boolean): void {
    if (!compute) return
    this.#lastStatus = performance.now()
    const status = statusJson(this.#ctx)
    const map = this.doc.getMap('status')
    let changed = this.#tick || map.size === 0
    for (const [field, value] of Object.entries(status)) {
      if (field !== 'time' && this.#put('status', field, value)) changed = true
    }
    if (changed) {
      map.set('time', status.time)
      map.set('updatedAt', Date.now())
    }
  }

  #writeForks (items: Awaited<ReturnType<typeof forksJson>>): void {
    const seen = new Set<string>()
    for (const f of items.forks) { const key = `${f.author}:${f.seq}`; seen.add(key); this.#put('forks', key, f) }
    for (const f of items.frozen) { const key = `frozen:${f.account}`; seen.add(key); this.#put('forks', key, f) }
    for (const key of [...(this.#cache.get('forks') as Map<string, string>).keys()]) if (!seen.has(key)) this.#put('forks', key, undefined)
  }

  #pushRecent (items: RecentOp[]): void {
    if (items.length === 0) return
    const recent = this.doc.getArray<RecentOp>('recent')
    recent.push(items)
    if (recent.length > RECENT_OPS) recent.delete(0, recent.length - RECENT_OPS)
  }

  // -------------------------------------------------------------------------------------------------
  // Start: the forks and the last decided ops, read from storage

  /** The (chain, seq) of the last decided ops, oldest first, from the state's decision log. */
  #recentPositions (): Array<{ chain: ChainView, seq: number }> {
    const state = this.#ctx.node.ledger.state
    const order = state.parts().order
    const back = new Map<number, number>()
    const out: Array<{ chain: ChainView, seq: number }> = []
    for (let i = order.length - 1; i >= 0 && out.length < RECENT_OPS; i--) {
      const idx = order[i] as number
      const k = back.get(idx) ?? 0
      back.set(idx, k + 1)
      const chain = state.chains[idx]
      if (chain === undefined || chain.length - 1 - k < 0) continue
      out.push({ chain, seq: chain.length - 1 - k })
    }
    return out.reverse()
  }

  async #loadRest (positions: Array<{ chain: ChainView, seq: number }>): Promise<void> {
    const storage = this.#ctx.node.ledger.storage
    const items: RecentOp[] = []
    for (const { chain, seq } of positions) {
      const id = toHex(chain.idAt(seq))
      // A rejected op's verdict is not kept in the state: `code` and `reason` come with live ops only.
      const bytes = await storage.load(opKey(chain.hex, seq, id)).catch(() => undefined)
      if (bytes === undefined) continue
      const { op } = decodeOp(bytes)
      if (op.kind === 'genesis') continue
      items.push({ status: chain.status[seq] === OpStatus.accepted ? 'applied' : 'rejected', id, kind: op.kind, author: idOf(chain.key), seq, ts: op.ts })
    }
    // If storage fails here, the next flush reads the forks again.
    const forks = await forksJson(this.#ctx).catch(() => { this.#forks = true; return { forks: [], frozen: [] } })
    if (this.#disposed) return
    this.doc.transact(() => {
      this.#writeForks(forks)
      this.#pushRecent(items)
    })
  }
}
