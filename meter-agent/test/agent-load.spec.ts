/**
 * The agent's relay under a load limit, with a node that answers from a fixed funds view: a pulse
 * train above the limit trips the relay after the grace period, and it comes back after the back-off.
 */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { decodeOp, generateKeyPair, keySigner, type LightRequest, type LightResponse } from '@microgrid/protocol'
import { ManualClock } from '@microgrid/core'
import { Island } from '@microgrid/core/testing'
import { MeterAgent } from '../src/agent.ts'
import type { PulseEvent, PulseSource } from '../src/io/events.ts'
import { simulatedRelay } from '../src/io/relay.ts'
import { StateStore } from '../src/state-store.ts'

class ManualSource implements PulseSource {
  listener: ((e: PulseEvent) => void) | undefined
  async start (listener: (e: PulseEvent) => void): Promise<void> { this.listener = listener }
  async stop (): Promise<void> {}
}

describe('meter agent load limit', () => {
  it('trips the relay when the power stays above the limit past the grace period, and restores it after the back-off', async () => {
    const island = new Island({ seed: 'load' })
    const clock = new ManualClock(Date.UTC(2026, 5, 1, 12))
    const signer = keySigner(generateKeyPair().secretKey)
    const requests: string[] = []
    const transport = {
      request: async (r: LightRequest): Promise<LightResponse> => {
        requests.push(r.t)
        if (r.t === 'funds') return { t: 'funds', funds: { at: r.at, registered: true, usableNow: 50_000, general: 50_000, burned: 0, balance: 50_000, nextChange: null, windows: [], funders: [] } }
        if (r.t === 'report') return { t: 'ok' }
        return { t: 'draft', seq: 0, prev: null, lastTs: 0, reading: null, deps: [], held: -1, settled: true, frozen: false }
      },
      stop: async () => {}
    }
    const source = new ManualSource()
    const relay = simulatedRelay()
    const store = await StateStore.open(await mkdtemp(join(tmpdir(), 'microgrid-load-')))
    const agent = new MeterAgent({
      role: 'consumption', signer, genesis: decodeOp(island.genesis), transport, source, relay, store, clock,
      pulsesPerKwh: 1000, whPerOp: 1_000_000, // no op signed here: the relay is the point
      policy: { loadLimitW: 2_000, loadGraceMs: 10_000, loadBackoffMs: 60_000 }, timing: { fundsEveryMs: 0 }
    })
    await agent.start()
    await agent.sync()
    expect(relay.state).toBe(true)
    // 3.6 kW at 1,000 pulses per kWh: a pulse a second (the limit is 2 kW).
    const pulseEvery = (ms: number, until: number): void => {
      for (let t = clock.now() + ms; t <= until; t += ms) { clock.set(t); source.listener?.({ type: 'pulse', at: t }) }
    }
    const start = clock.now()
    pulseEvery(1_000, start + 8_000)
    await agent.sync()
    expect(relay.state).toBe(true) // within the grace period
    pulseEvery(1_000, start + 30_000)
    await agent.sync()
    expect(relay.state).toBe(false)
    expect(agent.status().decision).toMatchObject({ on: false, reason: 'load-limit' })
    // The load falls (the relay is off): after the back-off the relay comes back.
    clock.set(start + 30_000 + 30_000)
    await agent.sync()
    expect(relay.state).toBe(false)
    clock.set(start + 30_000 + 61_000)
    await agent.sync()
    expect(relay.state).toBe(true)
    expect(agent.status().decision).toMatchObject({ on: true, reason: 'funded' })
    expect(requests).toContain('report')
    await agent.stop()
  })

  it('reports the power it meters without a load limit too (the UI shows it as the load drawn)', async () => {
    const island = new Island({ seed: 'watts' })
    const clock = new ManualClock(Date.UTC(2026, 5, 1, 12))
    const reports: number[] = []
    const transport = {
      request: async (r: LightRequest): Promise<LightResponse> => {
        if (r.t === 'funds') return { t: 'funds', funds: { at: r.at, registered: true, usableNow: 50_000, general: 50_000, burned: 0, balance: 50_000, nextChange: null, windows: [], funders: [] } }
        if (r.t === 'report') { reports.push(r.report.watts); return { t: 'ok' } }
        return { t: 'draft', seq: 0, prev: null, lastTs: 0, reading: null, deps: [], held: -1, settled: true, frozen: false }
      },
      stop: async () => {}
    }
    const source = new ManualSource()
    const agent = new MeterAgent({
      role: 'consumption', signer: keySigner(generateKeyPair().secretKey), genesis: decodeOp(island.genesis), transport, source, relay: simulatedRelay(),
      store: await StateStore.open(await mkdtemp(join(tmpdir(), 'microgrid-watts-'))), clock, pulsesPerKwh: 1000, whPerOp: 1_000_000, timing: { fundsEveryMs: 0 }
    })
    await agent.start()
    await agent.sync()
    // 1.8 kW at 1,000 pulses per kWh: a pulse every 2 s.
    for (let t = clock.now() + 2_000; t <= clock.now() + 20_000; t += 2_000) source.listener?.({ type: 'pulse', at: t })
    clock.set(clock.now() + 20_000)
    await agent.sync()
    expect(reports.at(-1)).toBe(1_800)
    await agent.stop()
  })
})
