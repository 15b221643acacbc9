/**
 * The island demo: a small grid on this machine, every party a real libp2p peer with its own key and
 * storage, trading on its own at a watchable pace.
 *
 *   utility node     the registrar, the payment oracle (the payment simulator) and the utility; beacons,
 *                    settles retail sales, serves the HTTP API; street lights and the stadium report here
 *   producer nodes   two rooftop-solar owners; each settles the utility's wholesale payments; their
 *                    generation meters (meter agents) mint through them
 *   household nodes  five residents; each household's meter agent burns through its own node
 *
 * Meter agents run simulated pulse sources, one pulse per Wh; a consumer's load only draws while its
 * relay is on. Every few seconds a party acts: the utility buys wholesale, a resident buys retail,
 * funds its household, a street light for the evening (a window) or the stadium. Everything is kept
 * under one data directory: a second start resumes the same island.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  DEFAULT_BEACON_INTERVAL_MS, PROTOCOL_VERSION, decodeOp, fromHex, generateKeyPair, keySigner, signOp, toHex,
  type DeviceCategory, type OpSigner, type PublicKey, type UnsignedOp
} from '@microgrid/protocol'
import { fundsOf, systemClock, type Clock } from '@microgrid/core'
import {
  MicrogridNode, beaconService, createApi, paymentGateway, serveApi, settlementService,
  type ApiSimulator, type SimulatedMeter
} from '@microgrid/node'
import {
  LightClient, MeterAgent, StateStore, simulatedRelay, simulatedSource, type PulseEvent, type PulseSource, type RelayDriver
} from '@microgrid/meter-agent'

export interface IslandDemoOptions {
  /** Where the island lives (keys, genesis, every node's ledger, every meter's state). */
  dir: string
  /**
   * The utility's API port (0: any free one); the producer's and the household's APIs take the next
   * two ports (or free ones with 0).
   */
  port?: number
  /** A built UI (desktop/dist/renderer) to serve at `/` of each API; none by default. */
  ui?: string
  /** The parties act on their own every `paceMs` (default true); false leaves the acting to the UI and the API. */
  autoplay?: boolean
  /** Milliseconds between two actions of the island's parties. */
  paceMs?: number
  log?: (line: string) => void
  clock?: Clock
}

interface MeterSpec { name: string, role: 'generation' | 'consumption', node: string, powerW: number, category?: DeviceCategory, label?: string, position?: [number, number], owner?: string }

const HOUSEHOLDS = 5
const METERS: MeterSpec[] = [
  // Sped-up sunshine (and capacities to match): a demo's minute shows what rooftops make in hours.
  { name: 'producer-1/meter', role: 'generation', node: 'producer-1', powerW: 90_000, owner: 'producer-1' },
  { name: 'producer-2/meter', role: 'generation', node: 'producer-2', powerW: 72_000, owner: 'producer-2' },
  ...Array.from({ length: HOUSEHOLDS }, (_, i): MeterSpec => ({
    name: `home-${i + 1}/meter`, role: 'consumption', node: `home-${i + 1}`, powerW: 2_000 + 500 * i, category: 'household', label: `Household ${i + 1}`, position: [18.4655 + 0.0009 * i, -66.1057 - 0.0011 * i]
  })),
  ...Array.from({ length: 3 }, (_, i): MeterSpec => ({
    name: `street-${i + 1}/meter`, role: 'consumption', node: 'utility', powerW: 600, category: 'street-light', label: `Street light ${i + 1}, Calle Luna`, position: [18.4660 + 0.0004 * i, -66.1040]
  })),
  { name: 'stadium/meter', role: 'consumption', node: 'utility', powerW: 20_000, category: 'stadium', label: 'Estadio del Pueblo', position: [18.4700, -66.1000] }
]
const RETAIL = 12_500 // minor units per MWh: 12.5 ¢/kWh
const WHOLESALE = 8_000

/** Keys of every party, made once and kept (hex, 0600) in the island's directory. */
async function loadKeys (dir: string, names: string[]): Promise<Map<string, OpSigner>> {
  const file = join(dir, 'keys.json')
  let stored: Record<string, string> = {}
  try {
    stored = JSON.parse(await readFile(file, 'utf8')) as Record<string, string>
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  let changed = false
  for (const name of names) {
    if (stored[name] === undefined) { stored[name] = toHex(generateKeyPair().secretKey); changed = true }
  }
  if (changed) await writeFile(file, JSON.stringify(stored, null, 2) + '\n', { mode: 0o600 })
  return new Map(names.map(n => [n, keySigner(fromHex(stored[n] as string))]))
}

/** A simulated meter's switch: the sun on a panel, or a load switched on (the simulator pages flip it). */
interface Switch { on: boolean }

/**
 * A pulse source that lets pulses through only while its switch is on and the relay (if any) is on:
 * no power flows through an open circuit, nor from a panel in the shade.
 */
function gated (inner: PulseSource, relay: RelayDriver | null, power: Switch): PulseSource {
  return {
    start: async listener => await inner.start((e: PulseEvent) => { if (e.type === 'fault' || (power.on && (relay === null || relay.state === true))) listener(e) }),
    stop: async () => await inner.stop()
  }
}

/** The API's view of the island's simulated meters: the simulator pages' switches. */
function simulatorOf (demo: IslandDemo, switches: Map<string, Switch>, relays: Map<string, RelayDriver | null>): ApiSimulator {
  const view = (m: MeterSpec): SimulatedMeter => {
    const key = demo.keys.get(m.name) as OpSigner
    return {
      account: key.publicKey,
      role: m.role,
      label: m.label ?? `Rooftop solar ${m.name.slice('producer-'.length, 'producer-'.length + 1)}`,
      on: switches.get(m.name)?.on ?? false,
      powerW: m.powerW,
      relay: relays.get(m.name)?.state ?? null,
      meteredWh: demo.agents.get(m.name)?.meteredWh ?? 0
    }
  }
  return {
    meters: () => METERS.map(view),
    set: (account, on) => {
      const m = METERS.find(x => toHex((demo.keys.get(x.name) as OpSigner).publicKey) === toHex(account))
      if (m === undefined) return undefined
      ;(switches.get(m.name) as Switch).on = on
      return view(m)
    }
  }
}

/** The parties whose node serves the API (and the UI, when built): what each one's page is for. */
export interface IslandUrls {
  /** The utility's node: registrar, payment oracle, utility (utility console, payment simulator). */
  utility: string
  /** Rooftop producer 1's node (producer page, producer simulator). */
  producer: string
  /** Household 1's node, resident 1's key (resident account, consumer simulator). */
  household: string
}

export class IslandDemo {
  readonly nodes = new Map<string, MicrogridNode>()
  readonly agents = new Map<string, MeterAgent>()
  readonly keys: Map<string, OpSigner>
  /** The utility's API (as `urls.utility`). */
  readonly url: string
  readonly urls: IslandUrls
  readonly token: string
  readonly #stops: Array<() => Promise<void> | void> = []
  readonly #log: (line: string) => void
  #timer: NodeJS.Timeout | undefined
  #actions = 0

  private constructor (keys: Map<string, OpSigner>, urls: IslandUrls, token: string, log: (line: string) => void) {
    this.keys = keys
    this.url = urls.utility
    this.urls = urls
    this.token = token
    this.#log = log
  }

  static async start (options: IslandDemoOptions): Promise<IslandDemo> {
    const log = options.log ?? (() => {})
    const clock = options.clock ?? systemClock
    const dir = options.dir
    await mkdir(dir, { recursive: true })
    const parties = ['registrar', 'oracle', 'utility', 'producer-1', 'producer-2', ...Array.from({ length: HOUSEHOLDS }, (_, i) => `resident-${i + 1}`)]
    const keys = await loadKeys(dir, [...parties, ...METERS.map(m => m.name)])
    const key = (name: string): OpSigner => keys.get(name) as OpSigner

    // The grid: made on the first start, read on the next ones.
    const genesisFile = join(dir, 'island.genesis')
    let genesis: Uint8Array
    try {
      genesis = await readFile(genesisFile)
    } catch {
      genesis = signOp({
        v: PROTOCOL_VERSION, grid: null, kind: 'genesis', author: key('registrar').publicKey, seq: 0, prev: null, deps: [], ts: clock.now(),
        body: {
          name: 'Isla Verde', currency: 'USD', registrars: [key('registrar').publicKey], oracles: [key('oracle').publicKey],
          policy: { friendlyCreditHours: [0, 1, 2, 3, 4, 5], beaconIntervalMs: Math.min(DEFAULT_BEACON_INTERVAL_MS, 60_000), mintSlackMs: 300_000 }
        }
      } as UnsignedOp, key('registrar')).bytes
      await writeFile(genesisFile, genesis)
    }
    const gridId = decodeOp(genesis).id

    let token: string
    try {
      token = (await readFile(join(dir, 'api-token'), 'utf8')).trim()
    } catch {
      token = randomBytes(24).toString('base64url')
      await writeFile(join(dir, 'api-token'), token + '\n', { mode: 0o600 })
    }

    // Full nodes: the utility first, the others bootstrap from it.
    const start = async (name: string, bootstrap: string[]): Promise<MicrogridNode> => {
      const node = await MicrogridNode.start({ genesis, dataDir: join(dir, 'nodes', name), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap, syncIntervalMs: 5_000 })
      return node
    }
    const utilityNode = await start('utility', [])
    const hub = utilityNode.multiaddrs.map(a => a.toString()).filter(a => a.includes('/p2p/'))
    const nodes = new Map<string, MicrogridNode>([['utility', utilityNode]])
    for (const name of ['producer-1', 'producer-2', ...Array.from({ length: HOUSEHOLDS }, (_, i) => `home-${i + 1}`)]) nodes.set(name, await start(name, hub))

    // Services: beacons and payments at the utility, sellers settle their own receipts.
    const stops: Array<() => Promise<void> | void> = []
    const beacons = beaconService({ node: utilityNode, signer: key('registrar'), clock })
    stops.push(() => beacons.stop())
    const gateway = paymentGateway({ node: utilityNode, oracle: key('oracle'), currency: 'USD', clock })
    const utilitySettles = settlementService({ node: utilityNode, sellers: [key('utility')], clock })
    stops.push(() => utilitySettles.stop())
    for (const p of ['producer-1', 'producer-2']) {
      const s = settlementService({ node: nodes.get(p) as MicrogridNode, sellers: [key(p)], clock })
      stops.push(() => s.stop())
    }

    // Registrations and prices, once.
    const state = utilityNode.ledger.state
    const registrar = key('registrar')
    const ensure = async (k: PublicKey, body: Parameters<MicrogridNode['sign']>[2] & object): Promise<void> => {
      if (state.registrationOf(k) === undefined) await utilityNode.sign(registrar, 'register', body as never)
    }
    await ensure(key('utility').publicKey, { role: 'utility', account: key('utility').publicKey, label: 'Isla Verde Power & Light' })
    for (const p of ['producer-1', 'producer-2']) {
      await ensure(key(p).publicKey, { role: 'producer', account: key(p).publicKey, meter: key(`${p}/meter`).publicKey, capacityW: 120_000, label: `Rooftop solar ${p.slice(-1)}` })
    }
    for (const m of METERS.filter(x => x.role === 'consumption')) {
      await ensure(key(m.name).publicKey, { role: 'consumer', meter: key(m.name).publicKey, label: m.label as string, category: m.category as DeviceCategory, position: [Math.round((m.position as [number, number])[0] * 1e6), Math.round((m.position as [number, number])[1] * 1e6)] })
    }
    if (state.chain(key('utility').publicKey).retail === null) await utilityNode.sign(key('utility'), 'price', { wholesale: null, retail: RETAIL })
    for (const p of ['producer-1', 'producer-2']) {
      const node = nodes.get(p) as MicrogridNode
      await waitFor(() => node.ledger.state.registrationOf(key(p).publicKey) !== undefined, 10_000)
      if (node.ledger.state.chain(key(p).publicKey).wholesale === null) await node.sign(key(p), 'price', { wholesale: WHOLESALE, retail: RETAIL - 500 })
    }

    // The APIs (and the UI): the utility's node, producer 1's and household 1's, each with its own keys.
    // The simulator's switches are wired once the meters exist; the APIs read them through `simulator`.
    const switches = new Map(METERS.map(m => [m.name, { on: true } as Switch]))
    const relays = new Map<string, RelayDriver | null>()
    let simulator: ApiSimulator | undefined
    const lazySimulator: ApiSimulator = {
      meters: () => simulator?.meters() ?? [],
      set: (account, on) => simulator?.set(account, on)
    }
    const ui = options.ui !== undefined ? { ui: { dir: options.ui } } : {}
    const serve = async (node: MicrogridNode, signers: Array<[string, OpSigner]>, port: number, extra: object = {}): Promise<string> => {
      const app = createApi({ node, token, signers: new Map(signers), clock, simulator: lazySimulator, ...extra }, ui)
      const server = await serveApi(app, { port })
      stops.push(async () => await server.close())
      return server.url
    }
    const base = options.port ?? 0
    const urls: IslandUrls = {
      utility: await serve(utilityNode, [['registrar', registrar], ['oracle', key('oracle')], ['utility', key('utility')]], base, { payments: gateway, settlement: utilitySettles }),
      producer: await serve(nodes.get('producer-1') as MicrogridNode, [['producer', key('producer-1')]], base === 0 ? 0 : base + 1),
      household: await serve(nodes.get('home-1') as MicrogridNode, [['resident', key('resident-1')]], base === 0 ? 0 : base + 2)
    }

    const demo = new IslandDemo(keys, urls, token, log)
    for (const [name, node] of nodes) demo.nodes.set(name, node)
    demo.#stops.push(...stops)
    simulator = simulatorOf(demo, switches, relays)

    // Meter agents, each a light peer of its own node.
    for (const m of METERS) {
      const node = nodes.get(m.node) as MicrogridNode
      const addr = node.multiaddrs.map(a => a.toString()).find(a => a.includes('/p2p/')) as string
      const relay = m.role === 'consumption' ? simulatedRelay({ onChange: on => log(`${m.name.replace('/meter', '')}: relay ${on ? 'on' : 'off'}`) }) : null
      relays.set(m.name, relay)
      const source = gated(simulatedSource({ powerW: m.powerW, pulsesPerKwh: 1000, maxPowerW: m.powerW * 3 }), relay, switches.get(m.name) as Switch)
      const agent = new MeterAgent({
        role: m.role, signer: key(m.name), genesis: decodeOp(genesis), transport: await LightClient.start([addr]), source, relay,
        store: await StateStore.open(join(dir, 'meters', m.name.replace('/', '-'))), clock, pulsesPerKwh: 1000, whPerOp: m.role === 'generation' ? 50 : 10,
        timing: { syncEveryMs: 3_000, fundsEveryMs: 3_000 }, autoSync: true
      })
      await agent.start()
      demo.agents.set(m.name, agent)
    }
    void gridId
    if (options.autoplay !== false) demo.#schedule(gateway, options.paceMs ?? 4_000, clock)
    return demo
  }

  /** One party acts every `paceMs`: payments, purchases and fundings, as the seed's story goes. */
  #schedule (gateway: ReturnType<typeof paymentGateway>, paceMs: number, clock: Clock): void {
    const key = (name: string): OpSigner => this.keys.get(name) as OpSigner
    const node = (name: string): MicrogridNode => this.nodes.get(name) as MicrogridNode
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)] as T
    const act = async (): Promise<void> => {
      const utility = node('utility').ledger.state
      const roll = Math.random()
      const n = this.#actions++
      if (n % 4 === 0) {
        // The utility pays a producer for what its panels made (contract wholesale-seller).
        const p = pick(['producer-1', 'producer-2'])
        const held = node(p).ledger.state.balance(key(p).publicKey)
        const cents = Math.floor(held * 0.9 * WHOLESALE / 1_000_000)
        if (cents >= 1) {
          await gateway.simulate({ payer: key('utility').publicKey, payee: key(p).publicKey, contract: 'wholesale-seller', amountMinor: cents })
          this.#log(`utility pays ${p} $${(cents / 100).toFixed(2)} for ${Math.floor(cents * 1_000_000 / WHOLESALE)} Wh`)
        }
        return
      }
      const i = 1 + Math.floor(Math.random() * HOUSEHOLDS)
      const resident = key(`resident-${i}`)
      const home = node(`home-${i}`)
      // What it holds, cited or not yet (its next op cites every creditor).
      const holds = home.ledger.state.balance(resident.publicKey)
      if (roll < 0.5 || holds < 100) {
        // A resident buys units from the utility (contract retail-seller).
        const cents = Math.min(1 + Math.floor(Math.random() * 4), Math.floor(utility.balance(key('utility').publicKey) * 0.9 * RETAIL / 1_000_000))
        if (cents >= 1) {
          await gateway.simulate({ payer: resident.publicKey, payee: key('utility').publicKey, contract: 'retail-seller', amountMinor: cents })
          this.#log(`resident-${i} buys $${(cents / 100).toFixed(2)} of electricity`)
        }
        return
      }
      // A resident funds a device (contract resident): its household, a street light for the evening, or the stadium.
      const target = roll < 0.8 ? `home-${i}/meter` : roll < 0.93 ? pick(['street-1/meter', 'street-2/meter', 'street-3/meter']) : 'stadium/meter'
      const now = clock.now()
      const window = target.startsWith('street') ? { from: now, until: now + 10 * 60_000 } : null
      const wh = Math.max(50, Math.floor(holds / 2))
      const result = await home.sign(resident, 'transfer', { contract: 'resident', to: key(target).publicKey, wh, receipt: null, window })
      this.#log(`resident-${i} funds ${target.replace('/meter', '')} with ${wh} Wh${window !== null ? ' for the next 10 minutes' : ''}: ${result.status}`)
    }
    let lastSummary = clock.now()
    const summary = (): void => {
      if (clock.now() - lastSummary < 30_000) return
      lastSummary = clock.now()
      const s = node('utility').ledger.state
      this.#log(`-- ${s.decidedCount} ops; minted ${s.minted} Wh, burned ${s.burned} Wh, in accounts ${s.minted - s.burned} Wh; state ${node('utility').stateHash().slice(0, 12)}`)
    }
    const loop = (): void => {
      this.#timer = setTimeout(() => { void act().catch(err => this.#log(`action failed: ${(err as Error).message}`)).finally(() => { summary(); loop() }) }, paceMs)
    }
    loop()
  }

  /** Funds of a device (by meter name) as the utility's node sees them. */
  funds (meter: string): ReturnType<typeof fundsOf> {
    return fundsOf((this.nodes.get('utility') as MicrogridNode).ledger.state, (this.keys.get(meter) as OpSigner).publicKey, Date.now())
  }

  async stop (): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    for (const agent of this.agents.values()) await agent.stop().catch(() => {})
    for (const stop of this.#stops.reverse()) await stop()
    for (const node of [...this.nodes.values()].reverse()) await node.stop()
  }
}

async function waitFor (ok: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms
  while (!ok()) {
    if (Date.now() > until) throw new Error('the island did not settle in time')
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}
