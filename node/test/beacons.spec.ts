/**
 * Time beacons on real nodes (127.0.0.1, mDNS off): the registrar's (or an oracle's) node publishes one
 * at start and one per interval, driven by a ManualClock or a short real interval, and a generation
 * meter's mint that cites them claims time the grid witnessed — which it could not without them.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { bytesEqual, decodeOp, policyOf, type OpSigner } from '@microgrid/protocol'
import { Ledger, ManualClock, createOp, defaultVerifier, opKey, systemClock } from '@microgrid/core'
import { Island } from '@microgrid/core/testing'
import type { MicrogridNode } from '@microgrid/node'
import { BeaconSignerError, beaconService, type BeaconService } from '../src/beacons.ts'
import { Cluster, sleep, waitFor } from './cluster.ts'

let cluster: Cluster
const services: BeaconService[] = []
afterEach(async () => {
  await Promise.allSettled(services.splice(0).map(async s => await s.stop()))
  await cluster.stopAll()
})

/** The ts of every beacon of `signer` that `node` accepted, in chain order. */
async function beaconsOf (node: MicrogridNode, signer: OpSigner): Promise<number[]> {
  const chain = node.ledger.state.chain(signer.publicKey)
  const out: number[] = []
  for (let seq = 0; seq < chain.length; seq++) {
    const bytes = await node.ledger.storage.load(opKey(chain.hex, seq, chain.idAt(seq)))
    if (bytes === undefined) continue // the genesis is stored apart
    const { op } = decodeOp(bytes)
    if (op.kind === 'beacon') out.push(op.ts)
  }
  return out
}

async function islandNode (island: Island, clock: ManualClock | undefined): Promise<MicrogridNode> {
  const node = await cluster.start({ genesis: island.genesis, ...(clock !== undefined ? { clock } : {}) })
  for (const op of island.ops) expect((await node.submit(op)).status).toBe('applied')
  return node
}

describe('beacons', () => {
  it('publishes once at start and once per interval of the genesis policy, driven by the clock', async () => {
    cluster = new Cluster()
    const island = new Island({ seed: 'beacons-interval' })
    const clock = new ManualClock(island.clock.now() + 1_000)
    const node = await islandNode(island, clock)
    const interval = policyOf(node.ledger.state.genesis).beaconIntervalMs
    expect(interval).toBe(300_000)
    const start = clock.now()
    const service = beaconService({ node, signer: island.registrar, clock, checkEveryMs: 10 })
    services.push(service)
    expect(service.intervalMs).toBe(interval)
    await waitFor(() => service.published === 1)

    clock.advance(interval - 1)
    await sleep(100)
    expect(service.published).toBe(1)
    clock.advance(1)
    await waitFor(() => service.published === 2)
    // Three intervals at once (a suspended machine): one beacon of the present, not three of the past.
    clock.advance(3 * interval)
    await waitFor(() => service.published === 3)
    await sleep(100)
    expect(service.published).toBe(3)
    expect(await beaconsOf(node, island.registrar)).toEqual([start, start + interval, start + 4 * interval])

    // An oracle's node publishes them too.
    const oracle = beaconService({ node, signer: island.oracle, clock, checkEveryMs: 10 })
    services.push(oracle)
    await waitFor(() => oracle.published === 1)
    expect(await beaconsOf(node, island.oracle)).toEqual([clock.now()])
  })

  it('publishes at a short real interval, and stops', async () => {
    cluster = new Cluster()
    const island = new Island({ seed: 'beacons-real' })
    const node = await islandNode(island, undefined)
    const service = beaconService({ node, signer: island.registrar, intervalMs: 100, clock: systemClock })
    services.push(service)
    await sleep(650)
    const n = service.published
    expect(n).toBeGreaterThanOrEqual(4)
    expect(n).toBeLessThanOrEqual(8)
    await service.stop()
    await sleep(250)
    expect(service.published).toBe(n)
    const ts = await beaconsOf(node, island.registrar)
    expect(ts).toHaveLength(n)
    for (let i = 1; i < ts.length; i++) expect(ts[i]! - ts[i - 1]!).toBeGreaterThanOrEqual(90)
  })

  it('refuses a signer that is neither a registrar nor an oracle of the genesis', async () => {
    cluster = new Cluster()
    const island = new Island({ seed: 'beacons-refuse', producers: 1 })
    const node = await islandNode(island, undefined)
    expect(() => beaconService({ node, signer: island.utility })).toThrow(BeaconSignerError)
    expect(() => beaconService({ node, signer: island.producers[0]!.account })).toThrow(/neither a registrar nor a payment oracle/)
  })

  it('lets a meter on another node mint the energy of the time the beacons witnessed, which it could not without them', async () => {
    cluster = new Cluster()
    const island = new Island({ seed: 'beacons-mint', producers: 1, mintSlackMs: 60_000 })
    const producer = island.producers[0]!
    const registeredAt = island.state.registrationOf(producer.meter.publicKey)!.ts
    // Two hours later: a 5 kW meter produced 10 kWh, but the grid witnessed nothing since the registration.
    const clock = new ManualClock(registeredAt + 2 * 3_600_000)
    const authority = await islandNode(island, clock)
    const meterNode = await islandNode(island, clock)
    await cluster.link(meterNode, authority)
    await cluster.gossipReady()

    // Without a beacon the mint is implausible (checked on a throwaway replica).
    const bare = await Ledger.open({ genesis: island.genesis, verifier: defaultVerifier() })
    await bare.applyBatch(island.ops)
    const early = createOp(bare.state, producer.meter, 'mint', { wh: 5_000, total: 5_000 }, clock)
    expect(await bare.apply(early.bytes)).toMatchObject({ status: 'rejected', code: 'implausible-mint' })

    const service = beaconService({ node: authority, signer: island.registrar, clock, checkEveryMs: 10 })
    services.push(service)
    await waitFor(() => service.published === 1)
    const beaconSeq = authority.ledger.state.chain(island.registrar.publicKey).length - 1
    await waitFor(() => meterNode.ledger.state.chain(island.registrar.publicKey).length === beaconSeq + 1)

    const first = await meterNode.sign(producer.meter, 'mint', { wh: 5_000, total: 5_000 })
    expect(first.status).toBe('applied')
    expect(first.status === 'applied' && first.op.deps.some(([k, s]) => bytesEqual(k, island.registrar.publicKey) && s === beaconSeq)).toBe(true)

    // More than the time witnessed so far allows (2 h at 5 kW: 10 kWh) takes the next beacon.
    clock.advance(policyOf(island.state.genesis).beaconIntervalMs)
    await waitFor(() => service.published === 2)
    await waitFor(() => meterNode.ledger.state.chain(island.registrar.publicKey).length === beaconSeq + 2)
    const second = await meterNode.sign(producer.meter, 'mint', { wh: 5_300, total: 10_300 })
    expect(second.status).toBe('applied')
    await cluster.converge([authority, meterNode])
    expect(authority.ledger.state.balance(producer.account.publicKey)).toBe(10_300)
  })
})
