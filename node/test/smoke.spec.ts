import { afterAll, expect, it } from 'vitest'
import { MicrogridNode } from '@microgrid/node'
import { Island } from '@microgrid/core/testing'

const nodes: MicrogridNode[] = []
afterAll(async () => { await Promise.all(nodes.map(async n => await n.stop())) })

it('three nodes converge', async () => {
  const isl = new Island({ seed: 'smoke', producers: 2, households: 3, residents: 3 })
  isl.simulate(200)
  for (let i = 0; i < 3; i++) nodes.push(await MicrogridNode.start({ genesis: isl.genesis, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, syncIntervalMs: 500 }))
  const [a, b, c] = nodes as [MicrogridNode, MicrogridNode, MicrogridNode]
  await b.connect(a.multiaddrs[0]!)
  await c.connect(b.multiaddrs[0]!)
  await new Promise(r => setTimeout(r, 1500))
  const t = performance.now()
  for (const op of isl.ops.slice(0, 100)) await a.submit(op)
  for (const op of isl.ops.slice(100)) await c.submit(op)
  const target = (await import('@microgrid/core')).stateHash(isl.state)
  while (nodes.some(n => n.stateHash() !== target) && performance.now() - t < 20_000) await new Promise(r => setTimeout(r, 100))
  console.log('converged in', (performance.now() - t).toFixed(0), 'ms', nodes.map(n => n.ledger.state.pendingCount))
  for (const n of nodes) expect(n.stateHash()).toBe(target)
})
