/**
 * MeterAgent: pulses in, signed mints or burns out, a relay switched. How the pieces talk:
 *
 *   io/ (PulseSource) --pulse--> counter (StateStore, written atomically, rate-limited)
 *   every sync: backlog of whole ops --draft--> node; sign; write the signed op; --submit--> node
 *   consumption: --funds--> node; policy/ decides the relay from the last view and what was metered since
 *   --report--> node (relay, reason, warnings, days remaining, faults)
 *
 * Energy is never signed twice: an op is signed only over energy the state file already counts as
 * unsigned, the file records the op before it is sent, and the agent signs only at a position its
 * node says is free (`settled`) and never below the last position it signed itself. Offline it keeps
 * counting and deciding the relay from the last known funds, and signs the backlog when a node
 * answers again.
 */
import {
  bytesEqual, fromHex, policyOf, PROTOCOL_VERSION, signOp, signReport, toHex,
  type DecodedOp, type DraftResponse, type LightFunds, type LightResponse, type MeterReport, type OpSigner, type UnsignedOp
} from '@microgrid/protocol'
import type { Clock, DeviceFundsView } from '@microgrid/core'
import type { PulseEvent, PulseSource } from './io/events.ts'
import type { RelayDriver } from './io/relay.ts'
import { decideRelay, LoadLimiter, UsageEstimator, type RelayDecision, type RelayPolicyOptions } from './policy/index.ts'
import type { LightTransport } from './light-client.ts'
import type { SignedRecord, StateStore } from './state-store.ts'

export interface MeterAgentInit {
  role: 'generation' | 'consumption'
  signer: OpSigner
  genesis: DecodedOp
  transport: LightTransport
  source: PulseSource
  relay?: RelayDriver | null
  store: StateStore
  clock: Clock
  pulsesPerKwh: number
  whPerOp?: number
  policy?: Omit<RelayPolicyOptions, 'friendlyCreditHours'> & { loadLimitW?: number | null, loadGraceMs?: number, loadBackoffMs?: number }
  timing?: { syncEveryMs?: number, fundsEveryMs?: number, saveEveryMs?: number, saveEveryPulses?: number }
  /** Run the sync loop on a timer (the CLI); tests call `sync()` themselves. */
  autoSync?: boolean
  log?: (line: string) => void
}

export interface AgentStatus {
  meteredWh: number
  backlogWh: number
  unacked: number
  lastSeq: number | null
  online: boolean
  relay: boolean | null
  decision: RelayDecision | null
  faults: string[]
}

const RETRY_AFTER_REJECTION_MS = 60_000

export class MeterAgent {
  readonly #i: MeterAgentInit
  readonly #whPerOp: number
  readonly #load: LoadLimiter | null
  /** The power estimate the reports carry: the load limiter's, or one of its own without a limit. */
  readonly #power: LoadLimiter
  readonly #usage: UsageEstimator
  readonly #policy: RelayPolicyOptions
  readonly #kind: 'mint' | 'burn'
  #pulsesSinceSave = 0
  #lastSave = 0
  #online = false
  #decision: RelayDecision | null = null
  #faults: string[] = []
  #retryAt = 0
  #lastFunds = 0
  #timer: NodeJS.Timeout | undefined
  #syncing: Promise<void> | undefined
  #stopped = false
  readonly #stopping = new AbortController()

  constructor (init: MeterAgentInit) {
    this.#i = init
    this.#whPerOp = init.whPerOp ?? 1000
    if (!Number.isSafeInteger(this.#whPerOp) || this.#whPerOp < 1) throw new RangeError('whPerOp: expected a positive integer (Wh)')
    if (!(init.pulsesPerKwh > 0)) throw new RangeError('pulsesPerKwh: expected a positive number')
    if (init.genesis.op.kind !== 'genesis') throw new TypeError('genesis: expected the grid\'s genesis op')
    this.#kind = init.role === 'generation' ? 'mint' : 'burn'
    const p = init.policy ?? {}
    this.#policy = {
      friendlyCreditHours: policyOf(init.genesis.op.body).friendlyCreditHours,
      ...(p.timeZone !== undefined ? { timeZone: p.timeZone } : {}),
      holidays: p.holidays ?? [],
      lowBalanceWh: p.lowBalanceWh ?? []
    }
    this.#load = p.loadLimitW === undefined || p.loadLimitW === null
      ? null
      : new LoadLimiter({ limitW: p.loadLimitW, graceMs: p.loadGraceMs ?? 10_000, backoffMs: p.loadBackoffMs ?? 60_000, pulsesPerKwh: init.pulsesPerKwh })
    // Without a load limit, a limiter whose limit no meter reaches still estimates the power from the pulses.
    this.#power = this.#load ?? new LoadLimiter({ limitW: 1e9, graceMs: 0, backoffMs: 1, pulsesPerKwh: init.pulsesPerKwh })
    const saved = init.store.state.usage
    this.#usage = saved !== null && saved !== undefined ? UsageEstimator.fromJSON(saved as Parameters<typeof UsageEstimator.fromJSON>[0]) : new UsageEstimator()
  }

  get #state (): StateStore['state'] { return this.#i.store.state }
  get #now (): number { return this.#i.clock.now() }

  /** Energy counted so far, Wh (whole Wh: pulses × 1000 ÷ pulses per kWh, rounded down). */
  get meteredWh (): number {
    return Math.floor(this.#state.pulses * 1000 / this.#i.pulsesPerKwh)
  }

  /** Energy metered and not yet in a signed op (or handed back by a rejection). */
  get backlogWh (): number {
    return this.meteredWh - this.#state.signedWh
  }

  status (): AgentStatus {
    return {
      meteredWh: this.meteredWh,
      backlogWh: this.backlogWh,
      unacked: this.#state.unacked.length,
      lastSeq: this.#state.last?.seq ?? null,
      online: this.#online,
      relay: this.#i.relay?.state ?? null,
      decision: this.#decision,
      faults: [...this.#faults]
    }
  }

  async start (): Promise<void> {
    this.#usage.record(this.#now, 0)
    // A known relay state before anything else: decided from what the state file last knew.
    await this.#decide()
    await this.#i.source.start(event => this.#onPulse(event))
    if (this.#i.autoSync === true) {
      const every = this.#i.timing?.syncEveryMs ?? 10_000
      const loop = (): void => {
        if (this.#stopped) return
        this.#timer = setTimeout(() => { void this.sync().finally(loop) }, every)
      }
      void this.sync().finally(loop)
      if (this.#kind === 'burn') void this.#watch()
    }
  }

  /**
   * Waits at its node for the device's funds to change (the light protocol's `watch`, a long poll) and
   * syncs at once when they do: a meter switches on moments after it is funded, not at its next
   * `fundsEveryMs`. A node that does not answer `watch` leaves the periodic refresh to do it.
   */
  async #watch (): Promise<void> {
    const waitMs = 25_000
    while (!this.#stopped) {
      const view = this.#state.funds?.view as JsonFunds | undefined
      const known = view === undefined ? null : { balance: view.balance, burned: view.burned }
      try {
        const r = await this.#i.transport.request({ t: 'watch', grid: this.#i.genesis.id, device: this.#i.signer.publicKey, known, waitMs }, waitMs + 10_000)
        if (this.#stopped) return
        if (r.t !== 'funds') throw new Error(`unexpected answer ${r.t} to watch`)
        if (known === null || r.funds.balance !== known.balance || r.funds.burned !== known.burned) {
          // The answer is the device's funds as the node holds them now: the relay follows them at
          // once, and the round that signs and reports comes after (no second ask on the way).
          this.#adoptFunds(r.funds)
          await this.#decide()
          await this.sync()
        }
      } catch {
        // Unreachable, or a node without `watch`: the sync loop keeps the funds fresh meanwhile.
        await new Promise<void>(resolve => {
          const t = setTimeout(resolve, this.#i.timing?.syncEveryMs ?? 10_000)
          this.#stopping.signal.addEventListener('abort', () => { clearTimeout(t); resolve() }, { once: true })
        })
      }
    }
  }

  #onPulse (event: PulseEvent): void {
    if (event.type === 'fault') {
      this.#fault(`${event.reason}: ${event.detail}`)
      return
    }
    this.#state.pulses++
    this.#pulsesSinceSave++
    this.#usage.record(event.at, 1000 / this.#i.pulsesPerKwh)
    this.#power.pulse(event.at)
    const t = this.#i.timing
    if (this.#pulsesSinceSave >= (t?.saveEveryPulses ?? 10) || event.at - this.#lastSave >= (t?.saveEveryMs ?? 10_000)) void this.#save()
    if (this.#i.relay !== null && this.#i.relay !== undefined) void this.#decide()
  }

  async #save (): Promise<void> {
    this.#pulsesSinceSave = 0
    this.#lastSave = this.#now
    this.#state.usage = this.#usage.toJSON()
    await this.#i.store.save()
  }

  #fault (text: string): void {
    this.#faults = [...this.#faults.filter(f => f !== text), text].slice(-8)
    this.#i.log?.(`fault: ${text}`)
  }

  /** One round with the nodes: resend, sign the backlog, learn funds, decide the relay, report. */
  async sync (): Promise<void> {
    if (this.#syncing !== undefined) return await this.#syncing
    this.#syncing = this.#sync().finally(() => { this.#syncing = undefined })
    return await this.#syncing
  }

  async #sync (): Promise<void> {
    try {
      await this.#resend()
      await this.#signBacklog()
      if (this.#kind === 'burn' && this.#now - this.#lastFunds >= (this.#i.timing?.fundsEveryMs ?? 30_000)) await this.#refreshFunds()
      this.#online = true
    } catch (err) {
      this.#online = false
      this.#i.log?.(`offline: ${(err as Error).message}`)
    }
    await this.#decide()
    if (this.#online) await this.#report().catch(() => {})
  }

  async #request (request: Parameters<LightTransport['request']>[0]): Promise<LightResponse> {
    return await this.#i.transport.request(request)
  }

  /** Sends again what was signed and not acknowledged, and learns each op's fate. */
  async #resend (): Promise<void> {
    if (this.#state.unacked.length === 0) return
    const response = await this.#request({ t: 'submit', grid: this.#i.genesis.id, ops: this.#state.unacked.map(r => fromHex(r.bytes)) })
    if (response.t !== 'submitted') throw new Error(`unexpected answer ${response.t} to submit`)
    await this.#settle(this.#state.unacked, response.results)
  }

  async #settle (records: SignedRecord[], results: Array<{ status: string, code: string | null, reason: string | null }>): Promise<void> {
    const kept: SignedRecord[] = []
    records.forEach((record, i) => {
      const r = results[i]
      if (r === undefined || r.status === 'pending' || r.status === 'dropped' || r.status === 'frozen') { kept.push(record); return }
      if (r.status === 'applied') { this.#state.appliedWh += record.wh; return }
      // Rejected (no funds yet, no fresh beacon yet, not registered yet...): the energy goes back to
      // the backlog, to be signed again later at a new position.
      this.#state.signedWh -= record.wh
      this.#retryAt = this.#now + RETRY_AFTER_REJECTION_MS
      this.#fault(`op #${record.seq} ${r.status}${r.code !== null ? ` (${r.code})` : ''}${r.reason !== null ? `: ${r.reason}` : ''}`)
    })
    this.#state.unacked = kept
    await this.#save()
  }

  async #signBacklog (): Promise<void> {
    if (this.#state.unacked.length > 0 || this.#now < this.#retryAt) return
    const ops = Math.floor(this.backlogWh / this.#whPerOp)
    if (ops <= 0) return
    const response = await this.#request({ t: 'draft', grid: this.#i.genesis.id, author: this.#i.signer.publicKey, kind: this.#kind })
    if (response.t !== 'draft') throw new Error(`unexpected answer ${response.t} to draft`)
    if (!this.#mayAppend(response)) return
    const wh = ops * this.#whPerOp
    const total = (response.reading ?? 0) + wh
    const ts = Math.max(this.#now, response.lastTs)
    const body = { wh, total }
    const { bytes, id } = signOp({
      v: PROTOCOL_VERSION, grid: this.#i.genesis.id, kind: this.#kind, author: this.#i.signer.publicKey,
      seq: response.seq, prev: response.prev, deps: response.deps, ts, body
    } as UnsignedOp, this.#i.signer)
    // Recorded before it leaves: a crash now resends it, never signs the energy again.
    const record: SignedRecord = { bytes: toHex(bytes), seq: response.seq, wh }
    this.#state.unacked = [record]
    this.#state.signedWh += wh
    this.#state.last = { seq: response.seq, id: toHex(id), total, ts }
    await this.#save()
    const submitted = await this.#request({ t: 'submit', grid: this.#i.genesis.id, ops: [bytes] })
    if (submitted.t !== 'submitted') throw new Error(`unexpected answer ${submitted.t} to submit`)
    await this.#settle([record], submitted.results)
  }

  /**
   * Whether the next op may be signed at the position the node names. Never below or at a position
   * this agent signed (the node is behind); if the node holds ops of this key beyond what the state
   * file remembers (a restored SD card, a copied config), the backlog is dropped — it may already be
   * in those ops — and the agent goes on from the node's head.
   */
  #mayAppend (d: DraftResponse): boolean {
    if (d.frozen) { this.#fault('the meter\'s chain is frozen after a fork: a registrar must lift it'); return false }
    if (!d.settled) { this.#fault('waiting for the node to decide the meter\'s earlier ops'); return false }
    const last = this.#state.last
    if (last !== null && d.seq <= last.seq) { this.#fault(`the node is behind (head ${d.seq - 1}, this meter signed ${last.seq})`); return false }
    const ours = last === null ? d.seq === 0 : d.seq === last.seq + 1 && d.prev !== null && bytesEqual(d.prev, fromHex(last.id))
    if (!ours) {
      this.#state.droppedWh += this.backlogWh
      this.#state.signedWh = this.meteredWh
      this.#state.last = d.prev === null ? null : { seq: d.seq - 1, id: toHex(d.prev), total: d.reading ?? 0, ts: d.lastTs }
      this.#fault(`the ledger holds ops of this meter this state file never signed (head ${d.seq - 1}): a restored or copied state; going on from the ledger's head`)
      void this.#save()
      return false
    }
    return true
  }

  async #refreshFunds (): Promise<void> {
    const response = await this.#request({ t: 'funds', grid: this.#i.genesis.id, device: this.#i.signer.publicKey, at: this.#now })
    if (response.t !== 'funds') throw new Error(`unexpected answer ${response.t} to funds`)
    this.#adoptFunds(response.funds)
  }

  /** Funds as a node answered them (to `funds` or `watch`): the latest answer stands. */
  #adoptFunds (funds: LightFunds): void {
    this.#state.funds = { view: toJsonFunds(funds), appliedAtView: this.#state.appliedWh, fetchedAt: this.#now }
    this.#lastFunds = this.#now
  }

  #fundsView (): DeviceFundsView | null {
    const f = this.#state.funds
    if (f === null) return null
    return { ...fromJsonFunds(f.view as JsonFunds), device: this.#i.signer.publicKey }
  }

  async #decide (): Promise<void> {
    const relay = this.#i.relay
    const now = this.#now
    const funds = this.#fundsView()
    const burnedSinceWh = Math.max(0, this.meteredWh - this.#state.droppedWh - (this.#state.funds?.appliedAtView ?? 0))
    this.#decision = decideRelay({ now, funds, burnedSinceWh, load: this.#load?.state(now) ?? { tripped: false }, usage: this.#usage }, this.#policy)
    if (relay !== null && relay !== undefined && this.#kind === 'burn' && relay.state !== this.#decision.on) {
      try {
        await relay.set(this.#decision.on)
        this.#i.log?.(`relay ${this.#decision.on ? 'on' : 'off'} (${this.#decision.reason})`)
      } catch (err) {
        this.#fault(`relay: ${(err as Error).message}`)
      }
    }
  }

  async #report (): Promise<void> {
    const d = this.#decision
    if (d === null) return
    const report: MeterReport = {
      at: d.at,
      relay: this.#i.relay?.state ?? d.on,
      reason: d.reason,
      usableWh: Math.max(0, Math.floor(d.usableWh)),
      daysRemaining: d.daysRemaining,
      watts: Math.round(this.#power.watts(this.#now)),
      warnings: d.warnings.map(w => w.thresholdWh),
      faults: this.#faults.slice(-8),
      queuedWh: this.backlogWh + this.#state.unacked.reduce((s, r) => s + r.wh, 0)
    }
    await this.#request(signReport(this.#i.signer, this.#i.genesis.id, report))
  }

  async stop (): Promise<void> {
    this.#stopped = true
    this.#stopping.abort()
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    await this.#syncing?.catch(() => {})
    await this.#i.source.stop()
    await this.#save()
    await this.#i.transport.stop()
  }
}

/** A funds view as the state file keeps it (keys hex). */
interface JsonFunds extends Omit<LightFunds, 'windows' | 'funders'> {
  windows: Array<Omit<LightFunds['windows'][number], 'funder'> & { funder: string }>
  funders: Array<Omit<LightFunds['funders'][number], 'funder'> & { funder: string }>
}

function toJsonFunds (f: LightFunds): JsonFunds {
  return { ...f, windows: f.windows.map(w => ({ ...w, funder: toHex(w.funder) })), funders: f.funders.map(x => ({ ...x, funder: toHex(x.funder) })) }
}

function fromJsonFunds (f: JsonFunds): Omit<DeviceFundsView, 'device'> {
  return { ...f, windows: f.windows.map(w => ({ ...w, funder: fromHex(w.funder) })), funders: f.funders.map(x => ({ ...x, funder: fromHex(x.funder) })) }
}

