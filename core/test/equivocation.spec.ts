import { describe, expect, it } from 'vitest'
import { compareBytes, decodeOp, toHex } from '@microgrid/protocol'
import { Ledger, type IngestResult } from '@microgrid/core'
import { Island, seededRandom, WHOLESALE_PRICE } from '@microgrid/core/testing'

/** The same island twice: deterministic keys, clock and signatures give byte-identical histories. */
function twin (): Island {
  const isl = new Island({ seed: 'fork', producers: 1, households: 2, streetLights: 1, residents: 2 })
  const p = isl.producers[0]!
  for (let i = 0; i < 40; i++) isl.mint(p)
  isl.sellWholesale(p, 40 * WHOLESALE_PRICE / 1_000)
  isl.sellRetail(isl.residents[0]!, 250) // 20 kWh
  return isl
}

/** Resident 0 spends its 20 kWh twice: 15 kWh to device 0 on one island, 15 kWh to device 1 on the other. */
function forkedIslands (): { a: Island, b: Island, extraA: Uint8Array[], extraB: Uint8Array[], forkSeq: number, idA: Uint8Array, idB: Uint8Array } {
  const a = twin()
  const b = twin()
  expect(a.ops.map(toHex)).toEqual(b.ops.map(toHex))
  const base = a.ops.length
  // Each island is its own replica: the same next position, signed twice with different contents.
  const fund = (isl: Island, device: number): Uint8Array => {
    const result = isl.fund(isl.residents[0]!, isl.devices[device]!, 15_000)
    expect(result.status).toBe('applied')
    return result.bytes
  }
  const forkSeq = a.state.chain(a.residents[0]!.publicKey).length
  const opA = fund(a, 0)
  const opB = fund(b, 1)
  a.burn(a.devices[0]!, 1_000) // depends on the branch of side A
  a.fund(a.residents[0]!, a.devices[2]!, 1_000) // the resident goes on signing on side A
  b.burn(b.devices[1]!, 1_000)
  return { a, b, extraA: a.ops.slice(base), extraB: b.ops.slice(base), forkSeq, idA: decodeOp(opA).id, idB: decodeOp(opB).id }
}

async function ledgerOf (isl: Island, ops: Uint8Array[]): Promise<Ledger> {
  const ledger = await Ledger.open({ genesis: isl.genesis })
  for (const r of await ledger.applyBatch(ops)) expect(r.status).not.toBe('invalid')
  return ledger
}

describe('equivocation', () => {
  it('gives every replica the same fraud proof, surviving branch and freeze, whatever the order', async () => {
    const { a, b, extraA, extraB, forkSeq, idA, idB } = forkedIslands()
    const x = await ledgerOf(a, a.ops)
    const y = await ledgerOf(b, b.ops)
    expect(x.stateHash()).not.toBe(y.stateHash())

    await x.applyBatch(extraB)
    await y.applyBatch(extraA)
    expect(x.stateHash()).toBe(y.stateHash())

    const r = a.residents[0]!.publicKey
    const [winner, loser] = compareBytes(idA, idB) < 0 ? [idA, idB] : [idB, idA]
    for (const ledger of [x, y]) {
      expect(ledger.state.equivocations).toEqual([{ author: toHex(r), seq: forkSeq, ids: [toHex(winner), toHex(loser)] }])
      expect(ledger.state.frozenAccounts().map(toHex)).toEqual([toHex(r)])
      expect(ledger.state.statusOf(r, forkSeq, winner)).toBe('accepted')
      expect(ledger.state.statusOf(r, forkSeq, loser)).toBe('void')
      const sum = ledger.state.chains.reduce((s, c) => s + c.balance, 0)
      expect(sum).toBe(ledger.state.minted - ledger.state.burned)
    }
    // The winning branch funded its device; the other device's burn relied on the void branch.
    const aWon = winner === idA
    const fundedDevice = aWon ? a.devices[0]! : a.devices[1]!
    const starvedDevice = aWon ? a.devices[1]! : a.devices[0]!
    expect(x.state.balance(fundedDevice.meter.publicKey)).toBe(14_000)
    expect(x.state.balance(starvedDevice.meter.publicKey)).toBe(0)
    // The resident's later op is frozen (if it built on the winner) or void (if on the loser).
    expect(x.state.balance(a.devices[2]!.meter.publicKey)).toBe(0)

    // A fresh replica fed everything in a shuffled order reaches the same state.
    const all = [...a.ops, ...extraB]
    const random = seededRandom(3)
    for (let i = all.length - 1; i > 0; i--) { const j = Math.floor(random() * (i + 1)); [all[i], all[j]] = [all[j]!, all[i]!] }
    const z = await ledgerOf(a, all)
    expect(z.stateHash()).toBe(x.stateHash())
  })

  it('lets a registrar lift the freeze, after which the surviving chain goes on', async () => {
    const { a, b, extraA, extraB, forkSeq, idA, idB } = forkedIslands()
    const x = await ledgerOf(a, [...a.ops, ...extraB])
    const y = await ledgerOf(b, [...b.ops, ...extraA])
    const r = a.residents[0]!.publicKey
    const unfreeze = a.emit(a.registrar, 'unfreeze', { account: r, seq: forkSeq }).bytes
    const results = [await x.apply(unfreeze), await y.apply(unfreeze)]
    expect(results.map(res => res.status)).toEqual(['applied', 'applied'])
    expect(x.stateHash()).toBe(y.stateHash())
    expect(x.state.frozenAccounts()).toEqual([])
    const aWon = compareBytes(idA, idB) < 0
    // Side A's later funding of device 2 builds on op A: it applies once the freeze is lifted if A won.
    expect(x.state.balance(a.devices[2]!.meter.publicKey)).toBe(aWon ? 1_000 : 0)
    expect(x.state.equivocations).toHaveLength(1)
  })

  it('keeps a fraud proof and the freeze across a restart', async () => {
    const { a, extraB } = forkedIslands()
    const x = await ledgerOf(a, [...a.ops, ...extraB])
    const reopened = await Ledger.open({ storage: x.storage })
    expect(reopened.stateHash()).toBe(x.stateHash())
    expect(reopened.state.equivocations).toEqual(x.state.equivocations)
  })

  it('reports the losing op as void to whoever submits it last', async () => {
    const { a, extraB, idA, idB } = forkedIslands()
    const x = await ledgerOf(a, a.ops)
    const results: IngestResult[] = await x.applyBatch(extraB)
    const first = results[0]!
    expect(first.status).toBe(compareBytes(idB, idA) < 0 ? 'applied' : 'void')
  })
})
