import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeOp } from '@microgrid/protocol'
import { Ledger, VerifierPool, nativeVerifier } from '@microgrid/core'
import { Island } from '@microgrid/core/testing'

describe('VerifierPool', () => {
  let pool: VerifierPool
  beforeAll(async () => { pool = (await VerifierPool.start({ workers: 2, chunk: 16 }))! })
  afterAll(async () => { await pool.close() })

  it('agrees with the inline verifier on valid, corrupted and malformed signatures, in order', async () => {
    const isl = new Island({ seed: 'pool', producers: 2, households: 2, residents: 2 })
    isl.simulate(120)
    const items = isl.ops.map(b => decodeOp(b)).map(d => ({ sig: d.op.sig.slice(), digest: d.id, publicKey: d.op.author }))
    items.forEach((item, i) => { if (i % 3 === 0) item.sig[7] = (item.sig[7] as number) ^ 4 })
    items.push({ sig: new Uint8Array(63), digest: new Uint8Array(32), publicKey: new Uint8Array(33) })
    const native = nativeVerifier()!
    const expected = items.map(it => native.verify(it.sig, it.digest, it.publicKey))
    expect(await pool.verifyBatch(items)).toEqual(expected)
    expect(expected.filter(Boolean).length).toBe(80)
    expect(pool.name).toMatch(/libsecp256k1 × 2 threads/)
  })

  it('gives a Ledger the same state as inline verification', async () => {
    const isl = new Island({ seed: 'pool-ledger', producers: 2, households: 3, residents: 3 })
    isl.simulate(300)
    const inline = await Ledger.open({ genesis: isl.genesis, verifier: nativeVerifier() })
    const pooled = await Ledger.open({ genesis: isl.genesis, batchVerifier: pool })
    await inline.applyBatch(isl.ops)
    const forged = isl.ops[5]!.slice()
    forged[forged.length - 2] = (forged[forged.length - 2] as number) ^ 1
    const results = await pooled.applyBatch([forged, ...isl.ops])
    expect(results[0]?.status).toBe('invalid')
    expect(pooled.stateHash()).toBe(inline.stateHash())
  })
})
