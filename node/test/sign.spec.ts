import { describe, expect, it } from 'vitest'
import { Island } from '@microgrid/core/testing'
import { MicrogridNode } from '../src/node.ts'

describe('MicrogridNode.sign', () => {
  it('signs one op at a time per key: concurrent signs of one key never fork it', async () => {
    const isl = new Island({ seed: 'sign-race' })
    const node = await MicrogridNode.start({ genesis: isl.genesis, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
    try {
      for (const op of isl.ops) await node.submit(op)
      const results = await Promise.all(Array.from({ length: 8 }, async (_, i) => await node.sign(isl.utility, 'price', { wholesale: null, retail: 12_000 + i })))
      expect(results.map(r => r.status)).toEqual(Array(8).fill('applied'))
      expect(node.ledger.state.equivocations).toEqual([])
      expect(node.ledger.state.chain(isl.utility.publicKey).length).toBe(1 + 8)
    } finally {
      await node.stop()
    }
  })
})
