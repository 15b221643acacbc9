import { afterAll, expect, it } from 'vitest'
import { MicrogridNode } from '@microgrid/node'
import { Island } from '@microgrid/core/testing'
import { waitFor } from './cluster.ts'

const nodes: MicrogridNode[] = []
afterAll(async () => { await Promise.all(nodes.map(async n => await n.stop())) })


it('dials its bootstrap peers on start and syncs from them', async () => {
  const isl = new Island({ seed: 'bootstrap', producers: 1, households: 1, residents: 1 })
  isl.simulate(40)
  const a = await MicrogridNode.start({ genesis: isl.genesis, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
  nodes.push(a)
  await a.ledger.applyBatch(isl.ops)
  const b = await MicrogridNode.start({ genesis: isl.genesis, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, bootstrap: [a.multiaddrs[0]!.toString()] })
  nodes.push(b)
  await waitFor(() => b.stateHash() === a.stateHash())
  expect(b.libp2p.getPeers().map(String)).toContain(a.peerId)
})

it('finds a neighbour on the LAN with mDNS, with no address given', async () => {
  const isl = new Island({ seed: 'mdns', producers: 1, households: 1, residents: 1 })
  isl.simulate(20)
  const a = await MicrogridNode.start({ genesis: isl.genesis, listen: ['/ip4/0.0.0.0/tcp/0'], mdns: true })
  nodes.push(a)
  await a.ledger.applyBatch(isl.ops)
  const b = await MicrogridNode.start({ genesis: isl.genesis, listen: ['/ip4/0.0.0.0/tcp/0'], mdns: true })
  nodes.push(b)
  await waitFor(() => b.stateHash() === a.stateHash(), { timeoutMs: 20_000 })
})
