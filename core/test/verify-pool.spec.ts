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

  it('with batches in flight together (verified ahead, decided in order), reaches the inline state; a bad copy and a repeat across batches change nothing', async () => {
    const isl = new Island({ seed: 'pool-pipeline', producers: 2, households: 3, residents: 3 })
    isl.simulate(600)
    const inline = await Ledger.open({ genesis: isl.genesis, verifier: nativeVerifier() })
    await inline.applyBatch(isl.ops)
    const pooled = await Ledger.open({ genesis: isl.genesis, batchVerifier: pool })
    const forged = isl.ops[40]!.slice()
    forged[forged.length - 2] = (forged[forged.length - 2] as number) ^ 1
    // Shuffled into batches out of chain order, one op sent twice in two batches, a forged copy in a third.
    const order = [...isl.ops.keys()].sort((a, b) => ((a * 7919) % 601) - ((b * 7919) % 601))
    const batches: Uint8Array[][] = []
    for (let i = 0; i < order.length; i += 50) batches.push(order.slice(i, i + 50).map(k => isl.ops[k]!))
    batches[1]!.push(isl.ops[order[0]!]!)
    batches[2]!.unshift(forged)
    const all = await Promise.all(batches.map(async b => await pooled.applyBatch(b)))
    expect(all[2]![0]!.status).toBe('invalid')
    expect(all[1]!.at(-1)!.status).toBe('duplicate')
    expect(pooled.stateHash()).toBe(inline.stateHash())
  })

  it('a batch prepared while an earlier one was half applied is prepared again when that one fails and the state goes back to storage', async () => {
    const isl = new Island({ seed: 'pool-rollback', producers: 2, households: 3, residents: 3 })
    isl.simulate(120)
    const native = nativeVerifier()!
    const check = (items: readonly { sig: Uint8Array, digest: Uint8Array, publicKey: Uint8Array }[]): boolean[] => items.map(it => native.verify(it.sig, it.digest, it.publicKey))
    let calls = 0
    let failSecond: (err: Error) => void = () => {}
    const flaky = {
      name: 'flaky',
      close: async () => {},
      verifyBatch: async (items: readonly { sig: Uint8Array, digest: Uint8Array, publicKey: Uint8Array }[]): Promise<boolean[]> => {
        calls++
        // The first batch's second chunk fails once the second batch has been prepared.
        if (calls === 2) return await new Promise<boolean[]>((_resolve, reject) => { failSecond = reject })
        return check(items)
      }
    }
    const ledger = await Ledger.open({ genesis: isl.genesis, batchVerifier: flaky })
    const first = isl.ops.slice(0, 40) // two chunks: 32 ops applied, then the chunk that fails
    const firstResult = ledger.applyBatch(first)
    await new Promise(resolve => setTimeout(resolve, 20)) // the first chunk is applied (not stored)
    const second = ledger.applyBatch([isl.ops[3]!, ...isl.ops.slice(40)]) // prepared now: ops[3] looks known
    failSecond(new Error('worker died'))
    await expect(firstResult).rejects.toThrow('worker died')
    const results = await second
    // Prepared again after the rollback: ops[3] is held, waiting for the ops before it (rolled back
    // with the first batch), not answered 'duplicate' and dropped.
    expect(results[0]!.status).toBe('pending')
    await ledger.applyBatch(first)
    const reference = await Ledger.open({ genesis: isl.genesis, verifier: native })
    await reference.applyBatch(isl.ops)
    expect(ledger.stateHash()).toBe(reference.stateHash())
  })
})

