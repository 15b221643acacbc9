/**
 * The full node's side of the light protocol (protocol/src/light.ts): meter agents that hold only their
 * own chain ask it what their next op must say, what their device may burn, submit what they sign and
 * report their relay. One request per stream. A service in the libp2p style: it takes only the
 * components it uses.
 */
import type { Connection, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import {
  bytesEqual, decodeLightRequest, encodeLight, LIGHT_LIMITS, LightProtocolError, reportDigest,
  toHex, type DraftRequest, type LightFunds, type LightResponse, type MeterReport, type PublicKey, type WatchRequest
} from '@microgrid/protocol'
import { depsFor, fundsOf, type Clock, type IngestResult, type Ledger } from '@microgrid/core'

export interface LightServerComponents {
  ledger: Ledger
  /** Applies a signed op durably and publishes it (MicrogridNode.submit). */
  submit: (bytes: Uint8Array) => Promise<IngestResult>
  clock: Clock
  /** Called with each meter's report. */
  onReport: (device: PublicKey, report: MeterReport, peer: string) => void
  /** A peer broke the protocol. */
  onViolation: (peer: string, reason: string) => void
}

/** Meters waiting in a `watch`, by device (hex): woken when an op of the device or to it is decided. */
class Watchers {
  readonly #waiting = new Map<string, Set<() => void>>()

  constructor (ledger: Ledger) {
    ledger.onOp(result => {
      if (this.#waiting.size === 0 || !('op' in result) || result.op === undefined) return
      const op = result.op
      this.#wake(toHex(op.author))
      const to = (op.body as { to?: unknown }).to
      if (to instanceof Uint8Array) this.#wake(toHex(to))
    })
  }

  #wake (device: string): void {
    const set = this.#waiting.get(device)
    if (set === undefined) return
    this.#waiting.delete(device)
    for (const wake of set) wake()
  }

  /** Resolves when an op of the device or to it is decided, after `ms`, or when `signal` aborts. */
  async next (device: string, ms: number, signal: AbortSignal): Promise<void> {
    await new Promise<void>(resolve => {
      const done = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        this.#waiting.get(device)?.delete(done)
        if (this.#waiting.get(device)?.size === 0) this.#waiting.delete(device)
        resolve()
      }
      const timer = setTimeout(done, ms)
      signal.addEventListener('abort', done)
      let set = this.#waiting.get(device)
      if (set === undefined) this.#waiting.set(device, set = new Set())
      set.add(done)
    })
  }
}

export function lightServer (c: LightServerComponents): (stream: Stream, connection: Connection) => Promise<void> {
  const watchers = new Watchers(c.ledger)
  return async (stream, connection) => {
    const peer = connection.remotePeer.toString()
    const lp = lpStream(stream, { maxDataLength: LIGHT_LIMITS.maxMessageBytes })
    let response: LightResponse
    try {
      const request = decodeLightRequest((await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray())
      if (!bytesEqual(request.grid, c.ledger.gridId)) {
        response = { t: 'error', message: 'another grid' }
      } else {
        switch (request.t) {
          case 'draft': response = draft(c.ledger, request); break
          case 'funds': response = { t: 'funds', funds: funds(c.ledger, request.device, request.at) }; break
          case 'watch': response = { t: 'funds', funds: await watch(c, watchers, request, stream) }; break
          case 'submit': {
            const results = []
            for (const bytes of request.ops) {
              const r = await c.submit(bytes)
              if (!('id' in r)) { results.push({ id: new Uint8Array(32), status: r.status, code: null, reason: r.error.message }); continue }
              // An op the node already holds: say what became of it, as if it had just been decided.
              const status = r.status === 'duplicate' ? heldStatus(c.ledger.state.statusOf(r.op.author, r.op.seq, r.id)) : r.status
              results.push({ id: r.id, status, code: r.status === 'rejected' ? r.code : null, reason: 'reason' in r ? r.reason : null })
            }
            response = { t: 'submitted', results }
            break
          }
          case 'report':
            // Only the meter's own key speaks for its device: a forged report would show a relay state
            // or a balance warning that no meter sent.
            if (!c.ledger.verifier.verify(request.sig, reportDigest(request.grid, request.device, request.report), request.device)) {
              throw new LightProtocolError('report.sig: the report is not signed by the device\'s key')
            }
            c.onReport(request.device, request.report, peer)
            response = { t: 'ok' }
        }
      }
    } catch (err) {
      if (err instanceof LightProtocolError) c.onViolation(peer, `light: ${err.message}`)
      response = { t: 'error', message: (err as Error).message.slice(0, 1000) }
    }
    try {
      await lp.write(encodeLight(response), { signal: AbortSignal.timeout(10_000) })
      await stream.close()
    } catch (err) {
      stream.abort(err as Error)
    }
  }
}

function draft (ledger: Ledger, request: DraftRequest): LightResponse {
  const state = ledger.state
  const chain = state.chain(request.author)
  const held = state.heldOf(request.author)
  const body = { wh: 1, total: 1 }
  return {
    t: 'draft',
    seq: chain.length,
    prev: chain.length === 0 ? null : chain.idAt(chain.length - 1).slice(),
    lastTs: chain.lastTs,
    reading: chain.reading,
    deps: depsFor(state, chain, request.kind, body).map(([k, s]) => [k.slice(), s] as const),
    held: held.highest,
    settled: held.undecided === 0 && held.highest === chain.length - 1 && !Number.isFinite(chain.frozenFrom),
    frozen: Number.isFinite(chain.frozenFrom)
  }
}

function funds (ledger: Ledger, device: PublicKey, at: number): LightFunds {
  const v = fundsOf(ledger.state, device, at)
  return {
    at: v.at,
    registered: v.registered,
    usableNow: v.usableNow,
    general: v.general,
    burned: v.burned,
    balance: v.balance,
    nextChange: v.nextChange,
    windows: v.windows.slice(0, LIGHT_LIMITS.maxWindows).map(w => ({ ...w, funder: w.funder.slice() })),
    funders: v.funders.slice(0, LIGHT_LIMITS.maxFunders).map(f => ({ ...f, funder: f.funder.slice() }))
  }
}

/** The device's funds once they differ from what the meter knows, or after `waitMs`. */
async function watch (c: LightServerComponents, watchers: Watchers, request: WatchRequest, stream: Stream): Promise<LightFunds> {
  const until = Date.now() + request.waitMs
  const device = toHex(request.device)
  const closed = new AbortController()
  const onClose = (): void => closed.abort()
  stream.addEventListener('close', onClose, { once: true })
  try {
    for (;;) {
      const now = funds(c.ledger, request.device, c.clock.now())
      const known = request.known
      const left = until - Date.now()
      if (known === null || now.balance !== known.balance || now.burned !== known.burned || left <= 0 || closed.signal.aborted) return now
      await watchers.next(device, left, closed.signal)
    }
  } finally {
    stream.removeEventListener('close', onClose)
  }
}

function heldStatus (status: ReturnType<Ledger['state']['statusOf']>): string {
  return status === 'accepted' ? 'applied' : status === 'unknown' ? 'duplicate' : status
}
