import { afterAll, expect, it } from 'vitest'
import { MicrogridNode } from '@microgrid/node'
import { stateHash } from '@microgrid/core'
import { Island } from '@microgrid/core/testing'
import { waitFor } from './cluster.ts'

const nodes: MicrogridNode[] = []
afterAll(async () => { await Promise.all(nodes.map(async n => await n.stop())) })


it('two nodes trade over a WebRTC connection signalled through a relay node', async () => {
  const isl = new Island({ seed: 'webrtc', producers: 1, households: 2, residents: 2 })
  isl.simulate(60)
  const start = async (opts: Partial<Parameters<typeof MicrogridNode.start>[0]>): Promise<MicrogridNode> => {
    const n = await MicrogridNode.start({ genesis: isl.genesis, mdns: false, syncIntervalMs: 500, ...opts })
    nodes.push(n)
    return n
  }
  const relay = await start({ listen: ['/ip4/127.0.0.1/tcp/0/ws'], relay: true })
  const listener = await start({ listen: [], webrtc: true })
  const dialer = await start({ listen: [], webrtc: true })
  await listener.connect(relay.multiaddrs[0]!)
  await waitFor(() => listener.multiaddrs.some(ma => ma.toString().includes('/webrtc/')))
  const address = listener.multiaddrs.find(ma => ma.toString().includes('/webrtc/'))!
  await dialer.connect(relay.multiaddrs[0]!)
  // ICE on a loaded machine can miss the dial timeout now and then; a user's app retries too.
  for (let attempt = 1; ; attempt++) {
    try {
      await dialer.connect(address)
      break
    } catch (err) {
      if (attempt === 3) throw err
    }
  }
  const direct = dialer.libp2p.getConnections().find(c => c.remotePeer.toString() === listener.peerId && c.remoteAddr.toString().includes('/webrtc'))
  expect(direct).toBeDefined()
  await relay.stop() // from here on, only the WebRTC connection joins them
  for (const op of isl.ops) await dialer.submit(op)
  await waitFor(() => listener.stateHash() === stateHash(isl.state))
  expect(listener.ledger.state.pendingCount).toBe(0)
})
