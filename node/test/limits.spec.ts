import { afterAll, expect, it } from 'vitest'
import { MicrogridNode } from '@microgrid/node'
import { Island } from '@microgrid/core/testing'
import { LOOPBACK, waitFor } from './cluster.ts'

const nodes: MicrogridNode[] = []
afterAll(async () => { await Promise.all(nodes.map(async n => await n.stop())) })

it('keeps no more connections than its limit', async () => {
  const isl = new Island({ seed: 'limits' })
  const hub = await MicrogridNode.start({ genesis: isl.genesis, listen: LOOPBACK, mdns: false, maxConnections: 2 })
  nodes.push(hub)
  for (let i = 0; i < 5; i++) {
    const n = await MicrogridNode.start({ genesis: isl.genesis, listen: LOOPBACK, mdns: false })
    nodes.push(n)
    await n.connect(hub.multiaddrs[0]!).catch(() => {}) // refused or pruned once the hub is full
  }
  await waitFor(() => hub.libp2p.getConnections().length <= 2, { timeoutMs: 15_000 })
  expect(hub.libp2p.getConnections().length).toBeGreaterThan(0)
})
