/**
 * Replication between real libp2p nodes on 127.0.0.1 (mDNS off): gossip plus the pull protocol must
 * bring every replica to the same set of ops, hence the same state hash, through a sparse topology, a
 * partition and its heal, an equivocation across the partition, a late joiner and a restart from disk.
 */
import { afterEach, describe, expect, it } from 'vitest'
import {
  compareBytes, decodeOp, keySigner, signOp, toHex,
  type OpSigner, type UnsignedOp
} from '@microgrid/protocol'
import { ManualClock, MemoryStorage, draftOp, nativeSigner, stateHash, type IngestResult } from '@microgrid/core'
import { Island, seededRandom, WHOLESALE_PRICE } from '@microgrid/core/testing'
import { SYNC_PROTOCOL, type MicrogridNode } from '@microgrid/node'
import { Cluster, TestGrid, acceptedOps, referenceHash, sleep } from './cluster.ts'

const fastSigner = (sk: Uint8Array): OpSigner => nativeSigner(sk) ?? keySigner(sk)

let cluster: Cluster
afterEach(async () => { await cluster.stopAll() })

/** Every op any node accepted is accepted on every node. */
function expectSameAcceptedOps (nodes: MicrogridNode[]): Set<string> {
  const union = new Set<string>()
  for (const n of nodes) for (const op of acceptedOps(n)) union.add(op)
  for (const n of nodes) {
    const state = n.ledger.state
    const notAccepted = [...union].filter(entry => {
      const [author, seq, id] = entry.split(':') as [string, string, string]
      return state.statusOf(fromHexKey(author), Number(seq), fromHexKey(id)) !== 'accepted'
    })
    expect(notAccepted, `ops not accepted on ${n.peerId}`).toEqual([])
  }
  return union
}

function fromHexKey (hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], b => parseInt(b, 16))
}

const idOf = (bytes: Uint8Array): string => {
  const { op, id } = decodeOp(bytes)
  return `${toHex(op.author)}:${op.seq}:${toHex(id)}`
}

describe('replication', () => {
  it('converges six nodes in a ring with chords on an island history published at random nodes', async () => {
    cluster = new Cluster()
    const island = new Island({ seed: 'converge', producers: 3, households: 4, streetLights: 2, residents: 4, signerFor: fastSigner })
    island.simulate(600, seededRandom(7))
    const target = stateHash(island.state)
    const nodes = await cluster.startMany(6, { genesis: island.genesis })
    // A ring 0-1-2-3-4-5-0 and the chords 0-3 and 1-4: connected, not complete (each node has 2-3 peers).
    for (let i = 0; i < 6; i++) await cluster.link(nodes[i]!, nodes[(i + 1) % 6]!)
    await cluster.link(nodes[0]!, nodes[3]!)
    await cluster.link(nodes[1]!, nodes[4]!)
    for (const n of nodes) expect(n.libp2p.getPeers().length).toBeLessThan(5)
    await cluster.gossipReady()

    const random = seededRandom(11)
    const t = performance.now()
    for (const op of island.ops) {
      const result = await nodes[Math.floor(random() * nodes.length)]!.submit(op)
      expect(['applied', 'pending', 'duplicate']).toContain(result.status)
    }
    const ms = await cluster.converge(nodes, target)
    console.log(`6 nodes: ${island.ops.length} ops converged ${ms.toFixed(0)} ms after the last submit (${(performance.now() - t).toFixed(0)} ms in all)`)
    for (const n of nodes) {
      expect(n.stateHash()).toBe(target)
      expect(n.ledger.state.pendingCount).toBe(0)
      expect(n.ledger.state.decidedCount).toBe(island.ops.length)
    }
    expect(cluster.badReports).toEqual([])
  }, 60_000)

  it('lets both sides of a partition trade and converges after the heal', async () => {
    cluster = new Cluster()
    const grid = new TestGrid('partition', { producers: 2, devices: 4, residents: 3 })
    const nodes = await cluster.startMany(6, { genesis: grid.genesis, clock: grid.clock })
    const [n0, n1, n2, n3, n4, n5] = nodes as [MicrogridNode, MicrogridNode, MicrogridNode, MicrogridNode, MicrogridNode, MicrogridNode]
    for (let i = 0; i < 6; i++) await cluster.link(nodes[i]!, nodes[(i + 1) % 6]!)
    await cluster.link(n0, n3)
    await cluster.link(n1, n4)
    await cluster.gossipReady()
    const sideA = [n0, n1, n2]
    const sideB = [n3, n4, n5]
    const [oracleA, oracleB] = grid.oracles as [OpSigner, OpSigner]
    const [p0, p1] = grid.producers as [typeof grid.producers[0], typeof grid.producers[0]]
    const [r0, r1, r2] = grid.residents as [OpSigner, OpSigner, OpSigner]
    const [d0, d1, d2, d3] = grid.devices as [OpSigner, OpSigner, OpSigner, OpSigner]
    const bal = (n: MicrogridNode, k: OpSigner): number => n.ledger.state.balance(k.publicKey)

    // Before the split, everyone sees each op before the next is signed (somewhere else).
    grid.settle = async () => { await cluster.converge(nodes) }
    await grid.setUp(n0)
    await grid.mint(n1, p0, 5_000)
    await grid.mint(n1, p0, 5_000)
    expect(await grid.sellWholesale(n0, n2, oracleA, p0, 80)).toBe(10_000)
    expect(await grid.sellRetail(n0, n4, oracleA, grid.utility, r2, 50)).toBe(4_000) // r2's funds, bought before the split
    const beforeSplit = grid.signed.length

    await cluster.partition(sideA, sideB)
    for (const a of sideA) for (const b of sideB) expect(a.libp2p.getPeers().map(String)).not.toContain(b.peerId)
    const sideOf = (n: MicrogridNode): MicrogridNode[] => sideA.includes(n) ? sideA : sideB
    grid.settle = async node => { await cluster.converge(sideOf(node)) }

    // Side A: oracle A, the utility, producer 0, residents 0 and 2; meters of devices 0 and 1.
    // Side B: oracle B, producer 1 (wholesale to the utility, and a neighbour sale), resident 1; meters of devices 2 and 3.
    // Residents fund devices on both sides; each key signs on one side only.
    const tradeA = async (): Promise<void> => {
      await grid.mint(n2, p0, 5_000)
      expect(await grid.sellWholesale(n0, n2, oracleA, p0, 40)).toBe(5_000)
      expect(await grid.sellRetail(n0, n1, oracleA, grid.utility, r0, 60)).toBe(4_800)
      await grid.fund(n0, r0, d0, 2_000)
      await grid.fund(n0, r0, d3, 1_500) // a device whose meter is on side B
      await grid.fund(n1, r2, d1, 1_000)
      await grid.fund(n1, r2, d2, 1_000) // side B
      await grid.burn(n2, d0, 1_500)
      await grid.burn(n1, d1, 800)
    }
    const tradeB = async (): Promise<void> => {
      await grid.mint(n4, p1, 5_000)
      await grid.mint(n4, p1, 5_000)
      expect(await grid.sellWholesale(n3, n5, oracleB, p1, 20)).toBe(2_500)
      expect(await grid.sellRetail(n3, n5, oracleB, p1.account, r1, 40)).toBe(3_333) // neighbour sale at 12,000 per MWh
      await grid.fund(n4, r1, d2, 2_000)
      await grid.fund(n4, r1, d0, 500) // a device whose meter is on side A
      await grid.burn(n5, d2, 1_500) // only r1's funding is visible on side B
    }
    await Promise.all([tradeA(), tradeB()])
    const duringSplit = grid.signed.slice(beforeSplit)
    expect(duringSplit.length).toBe(20)

    // The sides diverged: neither knows the other's ops.
    expect(n0.stateHash()).not.toBe(n3.stateHash())
    expect(n3.ledger.state.chain(r0.publicKey).length).toBe(0)
    expect(n0.ledger.state.chain(r1.publicKey).length).toBe(0)
    expect([bal(n0, d3), bal(n3, d3)]).toEqual([1_500, 0]) // r0's funding of a side-B device stays on side A
    expect([bal(n0, d2), bal(n5, d2)]).toEqual([1_000, 500])
    expect([bal(n2, d0), bal(n4, d0)]).toEqual([2_000 - 1_500, 500])

    await cluster.heal()
    grid.settle = async () => { await cluster.converge(nodes) }
    const healMs = await cluster.converge(nodes)
    console.log(`partition healed: ${duringSplit.length} ops exchanged in ${healMs.toFixed(0)} ms`)
    const reference = await referenceHash(grid.genesis, grid.signed)
    for (const n of nodes) expect(n.stateHash()).toBe(reference.hash)
    const accepted = expectSameAcceptedOps(nodes)
    expect(accepted).toEqual(new Set([...grid.signed.map(idOf), idOf(grid.genesis)]))
    expect(bal(n5, d0)).toBe(2_000 - 1_500 + 500)
    expect(bal(n0, d2)).toBe(1_000 + 2_000 - 1_500)
    expect(bal(n0, d3)).toBe(1_500)

    // After the heal, meters spend what the other side gave them.
    await grid.burn(n5, d3, 1_500)
    await grid.burn(n0, d0, 1_000)
    await grid.burn(n4, d2, 1_500)
    const final = await referenceHash(grid.genesis, grid.signed)
    for (const n of nodes) {
      expect(n.stateHash()).toBe(final.hash)
      expect(bal(n, d0) + bal(n, d2) + bal(n, d3)).toBe(0)
      const s = n.ledger.state
      expect(s.chains.reduce((sum, c) => sum + c.balance, 0)).toBe(s.minted - s.burned)
      expect(s.equivocations).toEqual([])
    }
    expect(cluster.invalidDataReports()).toEqual([])
  }, 60_000)

  it('agrees on an equivocation signed on both sides of a partition once it heals', async () => {
    cluster = new Cluster()
    const island = new Island({ seed: 'fork-net', producers: 1, households: 2, streetLights: 1, residents: 2 })
    const p = island.producers[0]!
    for (let i = 0; i < 40; i++) island.mint(p)
    island.sellWholesale(p, 40 * WHOLESALE_PRICE / 1_000)
    island.sellRetail(island.residents[0]!, 250) // 20 kWh for resident 0
    const nodes = await cluster.startMany(4, { genesis: island.genesis })
    const [a0, a1, b0, b1] = nodes as [MicrogridNode, MicrogridNode, MicrogridNode, MicrogridNode]
    // A ring a0-a1-b0-b1-a0; the partition cuts a1-b0 and b1-a0.
    await cluster.link(a0, a1)
    await cluster.link(a1, b0)
    await cluster.link(b0, b1)
    await cluster.link(b1, a0)
    await cluster.gossipReady()
    for (const op of island.ops) await a0.submit(op)
    await cluster.converge(nodes, stateHash(island.state))
    const sideA = [a0, a1]
    const sideB = [b0, b1]
    await cluster.partition(sideA, sideB)

    // Resident 0 spends 15 of its 20 kWh on each side, at the same seq.
    const r = island.residents[0]!
    const clock = new ManualClock(island.clock.now())
    const forkSeq = a0.ledger.state.chain(r.publicKey).length
    const fundOn = async (node: MicrogridNode, device: number): Promise<Uint8Array> => {
      clock.advance(1_000)
      const draft = draftOp(node.ledger.state, r.publicKey, 'transfer', { contract: 'resident', to: island.devices[device]!.meter.publicKey, wh: 15_000, receipt: null, window: null }, clock)
      expect(draft.seq).toBe(forkSeq)
      const { bytes } = signOp(draft as UnsignedOp, r)
      expect((await node.submit(bytes)).status).toBe('applied')
      return bytes
    }
    const extra: Uint8Array[] = []
    const record = (result: IngestResult & { bytes: Uint8Array }): void => {
      expect(result.status).toBe('applied')
      extra.push(result.bytes)
    }
    const opA = await fundOn(a0, 0)
    const opB = await fundOn(b0, 1)
    extra.push(opA, opB)
    await cluster.converge(sideA)
    await cluster.converge(sideB)
    // Each side builds on its branch: a burn by the funded device, and (side A) the resident's next op.
    const dev = (i: number): OpSigner => island.devices[i]!.meter
    record(await a1.sign(dev(0), 'burn', { wh: 1_000, total: 1_000 }))
    record(await a0.sign(r, 'transfer', { contract: 'resident', to: dev(2).publicKey, wh: 1_000, receipt: null, window: null }))
    record(await b1.sign(dev(1), 'burn', { wh: 1_000, total: 1_000 }))
    await cluster.converge(sideA)
    await cluster.converge(sideB)
    expect(a0.stateHash()).not.toBe(b0.stateHash())
    for (const n of nodes) expect(n.ledger.state.equivocations).toEqual([]) // nobody has seen both branches yet

    await cluster.heal()
    const reference = await referenceHash(island.genesis, [...island.ops, ...extra])
    const idA = decodeOp(opA).id
    const idB = decodeOp(opB).id
    const [winner, loser] = compareBytes(idA, idB) < 0 ? [idA, idB] : [idB, idA]
    const expected = [{ author: toHex(r.publicKey), seq: forkSeq, ids: [toHex(winner), toHex(loser)] }]
    expect(reference.ledger.state.equivocations).toEqual(expected)
    const healMs = await cluster.converge(nodes, reference.hash, 15_000)
    console.log(`equivocation settled on 4 nodes ${healMs.toFixed(0)} ms after the heal; rewinds ${nodes.map(n => n.ledger.rewinds).join(', ')}`)
    for (const n of nodes) {
      const s = n.ledger.state
      expect(n.stateHash()).toBe(reference.hash)
      expect(s.equivocations).toEqual(expected)
      expect(s.statusOf(r.publicKey, forkSeq, winner)).toBe('accepted')
      expect(s.statusOf(r.publicKey, forkSeq, loser)).toBe('void')
      expect(s.frozenAccounts().map(toHex)).toEqual([toHex(r.publicKey)])
      expect(s.balance(dev(2).publicKey)).toBe(0) // the resident's later op is frozen or void
    }
    expectSameAcceptedOps(nodes)
    expect(cluster.invalidDataReports()).toEqual([])
  }, 60_000)

  it('brings a late joiner with an empty store up to a 2,000-op history, also one checking signatures in worker threads', async () => {
    cluster = new Cluster()
    const island = new Island({ seed: 'late', producers: 4, households: 6, streetLights: 3, residents: 6, signerFor: fastSigner })
    island.simulate(2_000, seededRandom(5))
    const target = stateHash(island.state)
    const [a, b] = await cluster.startMany(2, { genesis: island.genesis }) as [MicrogridNode, MicrogridNode]
    const results = await a.ledger.applyBatch(island.ops)
    expect(results.every(res => res.status === 'applied')).toBe(true)
    await cluster.link(b, a)
    await cluster.converge([a, b], target)

    const joiner = await cluster.start({ genesis: island.genesis, storage: new MemoryStorage() })
    expect(joiner.ledger.state.decidedCount).toBe(0)
    let received = 0
    joiner.on('sync:done', e => { received += e.received })
    // What the serving peer said was left, as the joiner knew it when the first synced op arrived.
    let toldTarget: number | undefined
    joiner.on('op', () => { toldTarget ??= joiner.syncTarget() })
    const t = performance.now()
    await cluster.link(joiner, b)
    await cluster.converge([a, b, joiner], target, 30_000)
    expect(toldTarget).toBe(island.ops.length)
    expect(joiner.syncTarget()).toBeUndefined()
    console.log(`late joiner synced ${island.ops.length} ops in ${(performance.now() - t).toFixed(0)} ms`)
    expect(joiner.stateHash()).toBe(target)
    expect(joiner.ledger.state.pendingCount).toBe(0)
    expect(joiner.ledger.state.decidedCount).toBe(island.ops.length)
    expect(received).toBeGreaterThanOrEqual(island.ops.length) // by pulls: gossip does not replay history

    // Another, whose signatures are checked by two worker threads while it applies the batches.
    const pooled = await cluster.start({ genesis: island.genesis, storage: new MemoryStorage(), verifyThreads: 2 })
    await cluster.link(pooled, a)
    await cluster.converge([a, b, joiner, pooled], target, 30_000)
    expect(pooled.ledger.state.decidedCount).toBe(island.ops.length)
    expect(cluster.badReports).toEqual([])
  }, 60_000)

  it('restarts from its data directory with the same identity and state, then catches up', async () => {
    cluster = new Cluster()
    const island = new Island({ seed: 'restart', producers: 2, households: 3, streetLights: 1, residents: 3, signerFor: fastSigner })
    island.simulate(400, seededRandom(9))
    const dataDir = await cluster.tempDir()
    const source = await cluster.start({ genesis: island.genesis })
    let disk = await cluster.start({ genesis: island.genesis, dataDir })
    await cluster.link(disk, source)
    await cluster.gossipReady()
    const half = 200
    for (const op of island.ops.slice(0, half)) await source.submit(op)
    await cluster.converge([source, disk])
    expect(disk.ledger.state.decidedCount).toBe(half)
    const peerId = disk.peerId
    const hashBefore = disk.stateHash()
    await cluster.stop(disk)

    // Published while the disk node is down.
    for (const op of island.ops.slice(half)) expect((await source.submit(op)).status).toBe('applied')
    expect(source.stateHash()).toBe(stateHash(island.state))

    disk = await cluster.start({ dataDir }) // no genesis: the data directory holds the grid
    expect(disk.peerId).toBe(peerId)
    expect(disk.stateHash()).toBe(hashBefore)
    expect(disk.ledger.state.pendingCount).toBe(0)
    await cluster.link(disk, source)
    await cluster.converge([source, disk], stateHash(island.state))
    expect(disk.ledger.state.decidedCount).toBe(island.ops.length)

    // What it caught up on is on disk too.
    const hashAfter = disk.stateHash()
    await cluster.stop(disk)
    disk = await cluster.start({ dataDir })
    expect(disk.peerId).toBe(peerId)
    expect(disk.stateHash()).toBe(hashAfter)
    expect(cluster.invalidDataReports()).toEqual([])
  }, 60_000)
})

/**
 * Minimal reproductions of what the scenarios above ran into (see the report that came with this file):
 * they fail until the node is fixed.
 */
describe('sync, minimal cases', () => {
  it('hands a peer the op it holds at a position where the peer holds another one', async () => {
    cluster = new Cluster()
    const island = new Island({ seed: 'fork-min', producers: 1, households: 2, residents: 1 })
    const p = island.producers[0]!
    for (let i = 0; i < 20; i++) island.mint(p)
    island.sellWholesale(p, 20 * WHOLESALE_PRICE / 1_000)
    const r = island.residents[0]!
    island.sellRetail(r, 125) // 10 kWh
    const [x, y] = await cluster.startMany(2, { genesis: island.genesis }) as [MicrogridNode, MicrogridNode]
    for (const n of [x, y]) expect((await n.ledger.applyBatch(island.ops)).every(res => res.status === 'applied')).toBe(true)
    // The resident signs its seq 0 twice; each node holds one of the two ops (not gossiped: not linked yet).
    const spend = (device: number): Uint8Array => {
      island.clock.advance(1_000)
      const draft = draftOp(island.state, r.publicKey, 'transfer', { contract: 'resident', to: island.devices[device]!.meter.publicKey, wh: 5_000, receipt: null, window: null }, island.clock)
      return signOp(draft as UnsignedOp, r).bytes
    }
    const [opX, opY] = [spend(0), spend(1)]
    expect((await x.ledger.apply(opX)).status).toBe('applied')
    expect((await y.ledger.apply(opY)).status).toBe('applied')
    const reference = await referenceHash(island.genesis, [...island.ops, opX, opY])
    expect(reference.ledger.state.equivocations).toHaveLength(1)

    await cluster.link(x, y) // both pull on connect, then every 500 ms
    await cluster.converge([x, y], reference.hash, 5_000)
    for (const n of [x, y]) expect(n.ledger.state.frozenAccounts().map(toHex)).toEqual([toHex(r.publicKey)])
  }, 20_000)

  it('does not count a peer whose connection drops in the middle of a pull request as bad', async () => {
    cluster = new Cluster()
    const island = new Island({ seed: 'drop' })
    const [server, client] = await cluster.startMany(2, { genesis: island.genesis }) as [MicrogridNode, MicrogridNode]
    await cluster.link(client, server)
    await sleep(600) // the pulls on connect are over
    expect(cluster.badReports).toEqual([])
    const stream = await client.libp2p.dialProtocol(server.libp2p.peerId, SYNC_PROTOCOL)
    stream.send(Uint8Array.of(64, 0xa4)) // a length prefix (64 bytes) and the first byte of a request...
    await client.libp2p.hangUp(server.libp2p.peerId) // ...and the link goes down
    await sleep(500)
    // A dropped link is not invalid data: 20 of these (never forgotten) ban an honest peer for 10 minutes.
    expect(cluster.badReports).toEqual([])
    expect(server.badCount(client.peerId)).toBe(0)
  }, 20_000)
})
