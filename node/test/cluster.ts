/**
 * Test helpers for real libp2p clusters on 127.0.0.1 (mDNS off): start nodes, wire a topology, cut it
 * into partitions (hang up and keep the cut with each node's `allowPeer` policy), heal it, and wait
 * for convergence. Also a small grid with two payment oracles, so both sides of a partition can sell
 * energy, whose ops are signed by the nodes themselves (`node.sign`).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sha256 } from '@noble/hashes/sha2.js'
import {
  keySigner, signOp, toHex,
  type BodyOf, type OpKind, type OpSigner, type PublicKey, type UnsignedOp
} from '@microgrid/protocol'
import {
  Ledger, ManualClock, OpStatus, defaultVerifier, whForPayment,
  type IngestResult
} from '@microgrid/core'
import { MicrogridNode, type MicrogridNodeInit } from '@microgrid/node'

export const LOOPBACK = ['/ip4/127.0.0.1/tcp/0']

export const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

/** Polls `condition` every `every` ms until it holds; throws with `describe()` after `timeoutMs`. */
export async function waitFor (condition: () => boolean, options: { timeoutMs?: number, every?: number, describe?: () => string } = {}): Promise<number> {
  const start = performance.now()
  const deadline = start + (options.timeoutMs ?? 30_000)
  for (;;) {
    if (condition()) return performance.now() - start
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${options.timeoutMs ?? 30_000} ms${options.describe !== undefined ? `: ${options.describe()}` : ''}`)
    }
    await sleep(options.every ?? 50)
  }
}

/** Every accepted op a node holds, as `author:seq:id` (hex). */
export function acceptedOps (node: MicrogridNode): Set<string> {
  const out = new Set<string>()
  for (const c of node.ledger.state.chains) {
    for (let seq = 0; seq < c.length; seq++) {
      if (c.status[seq] === OpStatus.accepted) out.add(`${c.hex}:${seq}:${toHex(c.idAt(seq))}`)
    }
  }
  return out
}

/** The state hash a fresh replica reaches from the genesis and a set of ops, in any order. */
export async function referenceHash (genesis: Uint8Array, ops: readonly Uint8Array[]): Promise<{ hash: string, ledger: Ledger }> {
  const ledger = await Ledger.open({ genesis, verifier: defaultVerifier() })
  const results = await ledger.applyBatch(ops)
  const bad = results.filter(r => r.status === 'invalid' || r.status === 'dropped')
  if (bad.length > 0) throw new Error(`reference ledger refused ${bad.length} ops`)
  return { hash: ledger.stateHash(), ledger }
}

const pairKey = (a: string, b: string): string => a < b ? `${a}|${b}` : `${b}|${a}`

export class Cluster {
  readonly nodes: MicrogridNode[] = []
  /** Pairs of peer ids the partition forbids: every node's `allowPeer` reads this set. */
  readonly cut = new Set<string>()
  /** Links dialled with `link`, so a heal can restore the ones a partition cut. */
  readonly links: Array<[MicrogridNode, MicrogridNode]> = []
  /** Every `peer:bad` report any node made (honest clusters should make none). */
  readonly badReports: Array<{ by: string, peer: string, reason: string, banned: boolean }> = []
  readonly #dirs: string[] = []
  readonly #defaults: Partial<MicrogridNodeInit>

  /**
   * Reports of invalid data, leaving out those caused by a connection or stream closing under a pull
   * (which the node also reports today: see the 'drops a sync stream' test in replication.spec.ts).
   */
  invalidDataReports (): Cluster['badReports'] {
    return this.badReports.filter(r => !/closed|EOF|reset|abort/i.test(r.reason))
  }

  constructor (defaults: Partial<MicrogridNodeInit> = {}) {
    this.#defaults = defaults
  }

  /** Starts a node on the loopback interface, mDNS off, with the cluster's partition policy. */
  async start (init: Partial<MicrogridNodeInit> = {}): Promise<MicrogridNode> {
    let self: MicrogridNode | undefined
    const node = await MicrogridNode.start({
      listen: LOOPBACK,
      mdns: false,
      syncIntervalMs: 500,
      ...this.#defaults,
      ...init,
      allowPeer: peer => self === undefined || !this.cut.has(pairKey(self.peerId, peer))
    })
    self = node
    node.on('peer:bad', e => this.badReports.push({ by: node.peerId, ...e }))
    this.nodes.push(node)
    return node
  }

  async startMany (count: number, init: Partial<MicrogridNodeInit> = {}): Promise<MicrogridNode[]> {
    return await Promise.all(Array.from({ length: count }, async () => await this.start(init)))
  }

  /** A fresh temporary data directory, removed by `stopAll`. */
  async tempDir (): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'microgrid-node-'))
    this.#dirs.push(dir)
    return dir
  }

  /** `a` dials `b`. */
  async link (a: MicrogridNode, b: MicrogridNode): Promise<void> {
    await a.connect(b.multiaddrs[0]!)
    this.links.push([a, b])
  }

  /** Waits until every node sees each of its linked neighbours subscribed to the grid's topic. */
  async gossipReady (timeoutMs = 10_000): Promise<void> {
    const neighbours = new Map<MicrogridNode, Set<string>>()
    for (const [a, b] of this.links) {
      if (!this.nodes.includes(a) || !this.nodes.includes(b) || this.isCut(a, b)) continue
      if (!neighbours.has(a)) neighbours.set(a, new Set())
      if (!neighbours.has(b)) neighbours.set(b, new Set())
      neighbours.get(a)!.add(b.peerId)
      neighbours.get(b)!.add(a.peerId)
    }
    await waitFor(() => [...neighbours].every(([n, peers]) => {
      const subscribed = new Set(n.libp2p.services.pubsub.getSubscribers(n.topic).map(p => p.toString()))
      return [...peers].every(p => subscribed.has(p))
    }), { timeoutMs, describe: () => 'gossip subscriptions never showed up' })
  }

  isCut (a: MicrogridNode, b: MicrogridNode): boolean {
    return this.cut.has(pairKey(a.peerId, b.peerId))
  }

  /** Splits the cluster: no node of one group may talk to a node of another, until `heal`. */
  async partition (...groups: MicrogridNode[][]): Promise<void> {
    for (let i = 0; i < groups.length; i++) {
      for (let j = i + 1; j < groups.length; j++) {
        for (const a of groups[i]!) for (const b of groups[j]!) this.cut.add(pairKey(a.peerId, b.peerId))
      }
    }
    const crossConnected = (): Array<[MicrogridNode, MicrogridNode]> => {
      const out: Array<[MicrogridNode, MicrogridNode]> = []
      for (const a of this.nodes) {
        for (const p of a.libp2p.getPeers()) {
          const b = this.nodes.find(n => n.peerId === p.toString())
          if (b !== undefined && this.isCut(a, b)) out.push([a, b])
        }
      }
      return out
    }
    for (const [a, b] of crossConnected()) await a.libp2p.hangUp(b.libp2p.peerId).catch(() => {})
    await waitFor(() => crossConnected().length === 0, { timeoutMs: 5_000, describe: () => `${crossConnected().length} connections across the cut` })
  }

  /** Lifts every cut and redials the links the partition had cut. */
  async heal (): Promise<void> {
    const cutLinks = this.links.filter(([a, b]) => this.isCut(a, b))
    this.cut.clear()
    for (const [a, b] of cutLinks) {
      if (this.nodes.includes(a) && this.nodes.includes(b)) await a.connect(b.multiaddrs[0]!)
    }
  }

  /** Waits until `nodes` (default: all) hold the same state (`target` if given) with nothing pending. */
  async converge (nodes: MicrogridNode[] = this.nodes, target?: string, timeoutMs = 30_000): Promise<number> {
    const done = (): boolean => {
      const first = target ?? nodes[0]?.stateHash()
      return nodes.every(n => n.ledger.state.pendingCount === 0 && n.stateHash() === first)
    }
    return await waitFor(done, { timeoutMs, every: 50, describe: () => this.describe(nodes, target) })
  }

  describe (nodes: MicrogridNode[] = this.nodes, target?: string): string {
    const rows = nodes.map((n, i) => `#${i} ${n.peerId.slice(-6)} hash ${n.stateHash().slice(0, 12)} decided ${n.ledger.state.decidedCount} pending ${n.ledger.state.pendingCount} equivocations ${n.ledger.state.equivocations.length} peers ${n.libp2p.getPeers().length}`)
    return `${target !== undefined ? `target ${target.slice(0, 12)}\n` : '\n'}${rows.join('\n')}`
  }

  /** Stops a node and forgets it (its data directory stays until `stopAll`). */
  async stop (node: MicrogridNode): Promise<void> {
    const at = this.nodes.indexOf(node)
    if (at >= 0) this.nodes.splice(at, 1)
    await node.stop()
  }

  async stopAll (): Promise<void> {
    const nodes = this.nodes.splice(0)
    await Promise.allSettled(nodes.map(async n => await n.stop()))
    this.cut.clear()
    this.links.length = 0
    await Promise.allSettled(this.#dirs.splice(0).map(async d => await rm(d, { recursive: true, force: true })))
  }
}

export interface TestProducer { account: OpSigner, meter: OpSigner, capacityW: number }

/**
 * A grid for partition tests: one registrar, two payment oracles (one per side of a split), a
 * utility, producers, consumer devices and residents with deterministic keys. Ops are signed by a
 * node (`node.sign`) from that node's view; the node's clock is `clock`, moved forward an hour per op
 * so generation meters may mint.
 */
export class TestGrid {
  readonly clock = new ManualClock(Date.UTC(2026, 0, 1))
  readonly genesis: Uint8Array
  readonly registrar: OpSigner
  readonly oracles: OpSigner[]
  readonly utility: OpSigner
  readonly producers: TestProducer[] = []
  readonly devices: OpSigner[] = []
  readonly residents: OpSigner[] = []
  /** Every op signed through this grid, in signing order. */
  readonly signed: Uint8Array[] = []
  /** Called after every op signed through this grid, e.g. to wait until the signer's side holds it. */
  settle: ((node: MicrogridNode) => Promise<void>) | undefined
  readonly #seed: string
  #payments = 0

  static readonly WHOLESALE = 8_000
  static readonly RETAIL = 12_500

  constructor (seed: string, counts: { producers: number, devices: number, residents: number }) {
    this.#seed = seed
    this.registrar = this.signer('registrar')
    this.oracles = [this.signer('oracle-0'), this.signer('oracle-1')]
    this.utility = this.signer('utility')
    for (let i = 0; i < counts.producers; i++) this.producers.push({ account: this.signer(`producer-${i}`), meter: this.signer(`producer-${i}/meter`), capacityW: 5_000 })
    for (let i = 0; i < counts.devices; i++) this.devices.push(this.signer(`device-${i}`))
    for (let i = 0; i < counts.residents; i++) this.residents.push(this.signer(`resident-${i}`))
    this.genesis = signOp({
      v: 1, grid: null, kind: 'genesis', author: this.registrar.publicKey, seq: 0, prev: null, deps: [], ts: this.clock.now(),
      body: { name: `Grid ${seed}`, currency: 'USD', registrars: [this.registrar.publicKey], oracles: this.oracles.map(o => o.publicKey), policy: { friendlyCreditHours: [] } }
    } satisfies UnsignedOp, this.registrar).bytes
  }

  signer (name: string): OpSigner {
    return keySigner(sha256(new TextEncoder().encode(`${this.#seed}/${name}`)))
  }

  /** Signs the next op of `signer` on `node`; it must apply there. */
  async sign<K extends OpKind> (node: MicrogridNode, signer: OpSigner, kind: K, body: BodyOf[K]): Promise<IngestResult & { bytes: Uint8Array }> {
    this.clock.advance(3_600_000)
    const result = await node.sign(signer, kind, body)
    if (result.status !== 'applied') {
      throw new Error(`${kind} by ${toHex(signer.publicKey).slice(0, 8)} did not apply on ${node.peerId.slice(-6)}: ${result.status} ${'reason' in result ? result.reason : ''}`)
    }
    this.signed.push(result.bytes)
    await this.settle?.(node)
    return result
  }

  /** Registers the utility, the producers (with prices) and the devices. */
  async setUp (node: MicrogridNode): Promise<void> {
    await this.sign(node, this.registrar, 'register', { role: 'utility', account: this.utility.publicKey, label: 'Utility' })
    await this.sign(node, this.utility, 'price', { wholesale: null, retail: TestGrid.RETAIL })
    for (const [i, p] of this.producers.entries()) {
      await this.sign(node, this.registrar, 'register', { role: 'producer', account: p.account.publicKey, meter: p.meter.publicKey, capacityW: p.capacityW, label: `Rooftop ${i}` })
      await this.sign(node, p.account, 'price', { wholesale: TestGrid.WHOLESALE, retail: TestGrid.RETAIL - 500 })
    }
    for (const [i, d] of this.devices.entries()) {
      await this.sign(node, this.registrar, 'register', { role: 'consumer', meter: d.publicKey, label: `Home ${i}`, category: 'household', position: [18_200_000 + i, -66_500_000 - i] })
    }
  }

  async mint (node: MicrogridNode, p: TestProducer, wh: number): Promise<void> {
    const reading = node.ledger.state.chain(p.meter.publicKey).reading ?? 0
    await this.sign(node, p.meter, 'mint', { wh, total: reading + wh })
  }

  async #receipt (node: MicrogridNode, oracle: OpSigner, payer: PublicKey, payee: PublicKey, contract: 'wholesale-seller' | 'retail-seller', cents: number): Promise<readonly [PublicKey, number]> {
    const r = await this.sign(node, oracle, 'receipt', { payer, payee, contract, amount: cents, currency: 'USD', paymentId: `pi_${this.#seed}_${++this.#payments}` })
    if (r.status !== 'applied') throw new Error('unreachable')
    return [oracle.publicKey, r.op.seq]
  }

  /**
   * The utility pays a producer through `oracle` (receipt signed on `oracleNode`), the producer settles
   * on `sellerNode` (which must hold the receipt by then: see `settle`). Returns the Wh sold.
   */
  async sellWholesale (oracleNode: MicrogridNode, sellerNode: MicrogridNode, oracle: OpSigner, p: TestProducer, cents: number): Promise<number> {
    const receipt = await this.#receipt(oracleNode, oracle, this.utility.publicKey, p.account.publicKey, 'wholesale-seller', cents)
    const wh = whForPayment(cents, TestGrid.WHOLESALE)
    await this.sign(sellerNode, p.account, 'transfer', { contract: 'wholesale-seller', to: this.utility.publicKey, wh, receipt, window: null })
    return wh
  }

  /** A resident pays `seller` (the utility, or a producer's account: a neighbour sale) through `oracle`. */
  async sellRetail (oracleNode: MicrogridNode, sellerNode: MicrogridNode, oracle: OpSigner, seller: OpSigner, resident: OpSigner, cents: number): Promise<number> {
    const receipt = await this.#receipt(oracleNode, oracle, resident.publicKey, seller.publicKey, 'retail-seller', cents)
    const price = sellerNode.ledger.state.chain(seller.publicKey).retail ?? TestGrid.RETAIL
    const wh = whForPayment(cents, price)
    await this.sign(sellerNode, seller, 'transfer', { contract: 'retail-seller', to: resident.publicKey, wh, receipt, window: null })
    return wh
  }

  async fund (node: MicrogridNode, resident: OpSigner, device: OpSigner, wh: number): Promise<void> {
    await this.sign(node, resident, 'transfer', { contract: 'resident', to: device.publicKey, wh, receipt: null, window: null })
  }

  async burn (node: MicrogridNode, device: OpSigner, wh: number): Promise<void> {
    const reading = node.ledger.state.chain(device.publicKey).reading ?? 0
    await this.sign(node, device, 'burn', { wh, total: reading + wh })
  }
}
