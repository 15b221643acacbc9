/**
 * The full node's side of the light protocol (protocol/src/light.ts): meter agents that hold only their
 * own chain ask it what their next op must say, what their device may burn, submit what they sign and
 * report their relay. One request per stream. A service in the libp2p style: it takes only the
 * components it uses.
 */
import type { Connection, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import {
  bytesEqual, decodeLightRequest, encodeLight, LIGHT_LIMITS, LightProtocolError,
  type DraftRequest, type LightFunds, type LightResponse, type MeterReport, type PublicKey
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

export function lightServer (c: LightServerComponents): (stream: Stream, connection: Connection) => Promise<void> {
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

function heldStatus (status: ReturnType<Ledger['state']['statusOf']>): string {
  return status === 'accepted' ? 'applied' : status === 'unknown' ? 'duplicate' : status
}
