/**
 * The meter agent against a real full node (`microgrid node` in its own process, on 127.0.0.1): a
 * generation meter mints what it metered, a consumption meter burns and switches its relay by its
 * funds and windows, the agent survives its node going away, a restored state file and SIGKILL.
 */
import { spawn } from 'node:child_process'
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { decodeOp, toHex, type OpSigner, type PublicKey } from '@microgrid/protocol'
import { WHOLESALE_PRICE, type Device } from '@microgrid/core/testing'
import { MeterAgent, type MeterAgentInit } from '../src/agent.ts'
import type { PulseEvent, PulseSource } from '../src/io/events.ts'
import { simulatedRelay } from '../src/io/relay.ts'
import type { LightTransport } from '../src/light-client.ts'
import { StateStore, type MeterState } from '../src/state-store.ts'
import { meterKey, testGrid, type TestGrid } from './helpers/grid.ts'

/** Pulses the test hands in. */
class ManualSource implements PulseSource {
  #listener: ((e: PulseEvent) => void) | undefined
  async start (listener: (e: PulseEvent) => void): Promise<void> { this.#listener = listener }
  async stop (): Promise<void> { this.#listener = undefined }
  pulses (n: number, at: number): void { for (let i = 0; i < n; i++) this.#listener?.({ type: 'pulse', at }) }
}

const grids: TestGrid[] = []
afterEach(async () => { await Promise.all(grids.splice(0).map(async g => await g.close())) })

async function grid (seed: string, start?: number): Promise<TestGrid> {
  const g = await testGrid({ seed, ...(start !== undefined ? { start } : {}) })
  grids.push(g)
  return g
}

/** The grid's light client, shared: the agent must not stop it. */
function transportOf (g: TestGrid): LightTransport {
  return { request: async (r, ms) => await g.client.request(r, ms), stop: async () => {} }
}

async function agentFor (g: TestGrid, name: string, signer: OpSigner, init: Partial<MeterAgentInit> & Pick<MeterAgentInit, 'role' | 'source'>): Promise<{ agent: MeterAgent, store: StateStore }> {
  const store = await StateStore.open(join(g.dir, name))
  const agent = new MeterAgent({
    signer, genesis: decodeOp(g.island.genesis), transport: transportOf(g), store, clock: g.island.clock, pulsesPerKwh: 10,
    timing: { fundsEveryMs: 0, saveEveryPulses: 1 }, ...init
  })
  await agent.start()
  return { agent, store }
}

async function draftOf (g: TestGrid, author: PublicKey, kind: 'mint' | 'burn' = 'mint'): Promise<{ seq: number, settled: boolean, frozen: boolean, reading: number | null }> {
  const r = await g.client.request({ t: 'draft', grid: g.island.state.gridId, author, kind })
  if (r.t !== 'draft') throw new Error(r.t)
  return r
}

/** Registers a producer whose generation meter is `meter`, an hour of sunshine ago, and a beacon now. */
async function producerWith (g: TestGrid, meter: PublicKey, capacityW = 5_000): Promise<OpSigner> {
  const account = g.island.signer(`producer-of-${toHex(meter).slice(0, 8)}`)
  g.island.must(g.island.registrar, 'register', { role: 'producer', account: account.publicKey, meter, capacityW, label: 'Rooftop' })
  g.island.clock.advance(3_600_000)
  g.island.beacon()
  await g.flush()
  return account
}

/** A household device whose meter is `meter`, and a resident holding `kwh` bought retail. */
async function householdWith (g: TestGrid, meter: OpSigner, kwh: number): Promise<{ device: Device, residents: OpSigner[] }> {
  const isl = g.island
  const device: Device = { meter, category: 'household', label: 'Home' }
  isl.must(isl.registrar, 'register', { role: 'consumer', meter: meter.publicKey, label: 'Home', category: 'household', position: null })
  const p = isl.addProducer(5_000)
  for (let i = 0; i < kwh + 2; i++) isl.mint(p)
  isl.sellWholesale(p, (kwh + 2) * WHOLESALE_PRICE / 1_000)
  for (const r of isl.residents) isl.sellRetail(r, Math.round(kwh / 2 * 12.5)) // 12.5 ¢/kWh
  await g.flush()
  return { device, residents: isl.residents }
}

describe('meter agent with a full node', () => {
  it('a generation meter mints what it metered, and the producer\'s balance rises by exactly that', async () => {
    const g = await grid('gen')
    const meter = meterKey()
    const producer = await producerWith(g, meter.signer.publicKey)
    const source = new ManualSource()
    const { agent, store } = await agentFor(g, 'gen', meter.signer, { role: 'generation', source })
    source.pulses(43, g.island.clock.now()) // 4.3 kWh: 4 whole kWh to sign
    await agent.sync()
    expect((await g.funds(producer.publicKey)).balance).toBe(4_000)
    expect(agent.status()).toMatchObject({ meteredWh: 4_300, backlogWh: 300, unacked: 0, online: true })
    expect(store.state.appliedWh).toBe(4_000)
    source.pulses(7, g.island.clock.now())
    await agent.sync()
    expect((await g.funds(producer.publicKey)).balance).toBe(5_000)
    expect(await draftOf(g, meter.signer.publicKey)).toMatchObject({ seq: 2, settled: true, frozen: false, reading: 5_000 })
    await agent.stop()
  }, 60_000)

  it('a consumption meter burns until empty, the relay goes off at zero and on again when a resident funds it', async () => {
    const g = await grid('burn')
    const meter = meterKey()
    const { device, residents } = await householdWith(g, meter.signer, 4)
    const relay = simulatedRelay()
    const source = new ManualSource()
    const { agent } = await agentFor(g, 'burn', meter.signer, { role: 'consumption', source, relay })
    expect(relay.state).toBe(false) // nothing known yet: off
    await agent.sync()
    expect(relay.state).toBe(false) // nothing funded
    g.island.fund(residents[0] as OpSigner, device, 2_000)
    await g.flush()
    await agent.sync()
    expect(relay.state).toBe(true)
    source.pulses(10, g.island.clock.now()) // 1 kWh
    await agent.sync()
    expect(relay.state).toBe(true)
    expect((await g.funds(meter.signer.publicKey)).usableNow).toBe(1_000)
    source.pulses(10, g.island.clock.now()) // the last kWh: off at once, before any sync
    await new Promise(resolve => setTimeout(resolve, 50))
    expect(relay.state).toBe(false)
    await agent.sync()
    expect(relay.state).toBe(false)
    const funds = await g.funds(meter.signer.publicKey)
    expect(funds).toMatchObject({ usableNow: 0, burned: 2_000 })
    g.island.fund(residents[1] as OpSigner, device, 1_500)
    await g.flush()
    await agent.sync()
    expect(relay.state).toBe(true)
    expect(agent.status().decision).toMatchObject({ reason: 'funded', usableWh: 1_500 })
    await agent.stop()
  }, 60_000)

  it('switches on moments after it is funded: its node answers the agent\'s watch, with no periodic funds refresh due', async () => {
    const g = await grid('watch')
    const meter = meterKey()
    const { device, residents } = await householdWith(g, meter.signer, 4)
    const relay = simulatedRelay()
    const { agent } = await agentFor(g, 'watch', meter.signer, {
      role: 'consumption', source: new ManualSource(), relay, autoSync: true, timing: { syncEveryMs: 600_000, fundsEveryMs: 600_000, saveEveryPulses: 1 }
    })
    const until = async (ok: () => boolean, what: string): Promise<number> => {
      const start = Date.now()
      while (!ok()) {
        if (Date.now() - start > 10_000) throw new Error(`timed out: ${what}`)
        await new Promise(resolve => setTimeout(resolve, 10))
      }
      return Date.now() - start
    }
    await until(() => agent.status().online, 'the first sync')
    expect(relay.state).toBe(false)
    g.island.fund(residents[0] as OpSigner, device, 2_000)
    await g.flush()
    // The next periodic sync is ten minutes away: only the watch can bring the funding this soon.
    expect(await until(() => relay.state === true, 'the relay to switch on')).toBeLessThan(5_000)
    expect(agent.status().decision).toMatchObject({ reason: 'funded', usableWh: 2_000 })
    await agent.stop()
  }, 60_000)

  it('a windowed funding switches the relay on only inside its window, and what is left returns to the funder', async () => {
    const g = await grid('window')
    const meter = meterKey()
    const { device, residents } = await householdWith(g, meter.signer, 4)
    const [market, neighbour] = residents as [OpSigner, OpSigner]
    const relay = simulatedRelay()
    const source = new ManualSource()
    const { agent } = await agentFor(g, 'window', meter.signer, { role: 'consumption', source, relay, whPerOp: 100 })
    const clock = g.island.clock
    const from = clock.now() + 3_600_000
    const until = from + 3_600_000
    g.island.fund(market, device, 1_000, { from, until })
    await g.flush()
    await agent.sync()
    expect(relay.state).toBe(false) // before the window
    clock.set(from + 60_000)
    await agent.sync()
    expect(relay.state).toBe(true) // inside
    source.pulses(5, clock.now()) // 500 Wh of the market's
    await agent.sync()
    expect((await g.funds(meter.signer.publicKey)).windows).toMatchObject([{ remaining: 500, state: 'open' }])
    clock.set(until + 60_000)
    await agent.sync()
    expect(relay.state).toBe(false) // after: the market's money does not keep it lit
    g.island.fund(neighbour, device, 300)
    await g.flush()
    await agent.sync()
    expect(relay.state).toBe(true)
    const marketBefore = (await g.funds(market.publicKey)).balance
    source.pulses(2, clock.now()) // 200 Wh of the neighbour's, in an op dated after the window
    await agent.sync()
    expect((await g.funds(market.publicKey)).balance).toBe(marketBefore + 500)
    const view = await g.funds(meter.signer.publicKey)
    expect(view.windows).toEqual([])
    expect(view.funders.find(f => toHex(f.funder) === toHex(market.publicKey))).toMatchObject({ put: 1_000, burned: 500, returned: 500 })
    await agent.stop()
  }, 60_000)

  it('offline, keeps metering, deciding the relay and queueing; when the node is back the queue drains and the balances agree', async () => {
    const g = await grid('offline')
    const meter = meterKey()
    const producer = await producerWith(g, meter.signer.publicKey)
    const source = new ManualSource()
    const { agent } = await agentFor(g, 'offline', meter.signer, { role: 'generation', source })
    source.pulses(10, g.island.clock.now())
    await agent.sync()
    await g.node.stop()
    source.pulses(25, g.island.clock.now())
    await agent.sync()
    expect(agent.status()).toMatchObject({ online: false, meteredWh: 3_500, backlogWh: 2_500 })
    await g.restartNode()
    await agent.sync()
    expect(agent.status()).toMatchObject({ online: true, backlogWh: 500, unacked: 0 })
    expect((await g.funds(producer.publicKey)).balance).toBe(3_000)
    await agent.stop()
  }, 60_000)

  it('a restored old state file and key do not fork the chain, and sign no energy twice', async () => {
    const g = await grid('restore')
    const meter = meterKey()
    const producer = await producerWith(g, meter.signer.publicKey)
    const source = new ManualSource()
    const first = await agentFor(g, 'restore', meter.signer, { role: 'generation', source })
    source.pulses(20, g.island.clock.now())
    await first.agent.sync()
    const backup = join(g.dir, 'backup.json')
    await copyFile(first.store.file, backup)
    source.pulses(30, g.island.clock.now())
    await first.agent.sync()
    await first.agent.stop()
    expect((await g.funds(producer.publicKey)).balance).toBe(5_000)
    // The SD card is restored from the backup: the state file says 2 kWh signed, the ledger holds 5.
    await copyFile(backup, first.store.file)
    const again = await agentFor(g, 'restore', meter.signer, { role: 'generation', source })
    source.pulses(10, g.island.clock.now())
    await again.agent.sync()
    expect((await g.funds(producer.publicKey)).balance).toBe(5_000) // nothing signed over a position already used
    g.island.clock.advance(3_600_000) // another hour of sun, witnessed
    g.island.beacon()
    await g.flush()
    source.pulses(10, g.island.clock.now())
    await again.agent.sync()
    expect((await g.funds(producer.publicKey)).balance, JSON.stringify(again.agent.status())).toBe(6_000)
    expect(await draftOf(g, meter.signer.publicKey)).toMatchObject({ seq: 3, settled: true, frozen: false, reading: 6_000 })
    await again.agent.stop()
  }, 60_000)
})

describe('meter agent process', () => {
  it('SIGKILLed mid-run again and again, never mints the same energy twice', async () => {
    const now = Date.now()
    const g = await grid('kill', now - 3_600_000)
    const meter = meterKey()
    const producer = await producerWith(g, meter.signer.publicKey, 100_000_000)
    g.island.clock.set(Date.now())
    g.island.beacon()
    await g.flush()
    const dir = join(g.dir, 'agent')
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, 'meter.key'), toHex(meter.secretKey) + '\n', { mode: 0o600 })
    await writeFile(join(dir, 'meter.json'), JSON.stringify({
      role: 'generation', keyFile: 'meter.key', genesis: g.genesisFile, nodes: [g.node.addr], stateDir: 'state',
      pulsesPerKwh: 10, whPerOp: 100, maxPowerW: 100_000_000,
      input: { source: 'simulated', powerW: 3_600_000 }, // 1 kWh a second: 10 pulses a second
      timing: { syncEveryMs: 150, saveEveryMs: 100, saveEveryPulses: 3 }
    }))
    const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url))
    /** Runs the agent; `ms` after it started (or at once, for SIGKILL, whatever it was doing) sends `signal`. */
    const run = async (ms: number, signal: NodeJS.Signals): Promise<string> => {
      const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', cli, 'run', '--config', join(dir, 'meter.json')], { stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      let started: () => void = () => {}
      const running = new Promise<void>(resolve => { started = resolve })
      child.stdout.on('data', (c: Buffer) => { out += c.toString(); if (out.includes('\nstate ')) started() })
      child.stderr.on('data', (c: Buffer) => { out += c.toString() })
      const exited = new Promise(resolve => child.once('exit', resolve))
      if (signal !== 'SIGKILL') await Promise.race([running, exited])
      await new Promise(resolve => setTimeout(resolve, ms))
      child.kill(signal)
      await exited
      return out
    }
    for (let i = 0; i < 4; i++) await run(1_500 + 400 * i, 'SIGKILL')
    // A graceful stop, then another, so the last ops are acknowledged even on a slow machine.
    let last = await run(2_500, 'SIGTERM')
    last += await run(1_000, 'SIGTERM')
    const state = JSON.parse(await readFile(join(dir, 'state', 'meter-state.json'), 'utf8')) as MeterState
    const metered = Math.floor(state.pulses * 1000 / 10)
    const minted = (await g.funds(producer.publicKey)).balance
    expect(minted, last).toBeGreaterThan(0)
    // Everything minted was metered, once: the ledger holds exactly what the state file says it signed.
    expect(minted).toBeLessThanOrEqual(metered)
    expect(state.unacked).toEqual([])
    expect(minted).toBe(state.signedWh)
    expect(minted).toBe(state.appliedWh)
    expect(await draftOf(g, meter.signer.publicKey)).toMatchObject({ settled: true, frozen: false, reading: minted })
  }, 120_000)
})
