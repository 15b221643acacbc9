/**
 * Held ops above a fork depend on arrival order (core/src/state.ts, #admit / #fork).
 * Resident r signs its seq-0 op twice (a fork: W survives, L loses), and goes on on each side:
 * wn, wn2 above W (seq 1, 2), ln above L (seq 1).
 */
import { describe, expect, it } from 'vitest'
import { compareBytes, decodeOp, type DecodedOp } from '@microgrid/protocol'
import { decodeSnapshot, encodeSnapshot, LedgerState, opKey } from '@microgrid/core'
import { Island, WHOLESALE_PRICE } from '@microgrid/core/testing'

function twin (): Island {
  const isl = new Island({ seed: 'held-order', producers: 1, households: 2, residents: 1 })
  for (let i = 0; i < 20; i++) isl.mint(isl.producers[0]!)
  isl.sellWholesale(isl.producers[0]!, 20 * WHOLESALE_PRICE / 1_000)
  isl.sellRetail(isl.residents[0]!, 100) // 8 kWh
  return isl
}

function forked () {
  const a = twin()
  const b = twin()
  const common = a.ops.map(x => decodeOp(x))
  const r = a.residents[0]!.publicKey
  const side = (isl: Island, device: number) => [0, 1, 2].map(() => decodeOp(isl.fund(isl.residents[0]!, isl.devices[device]!, 1_000).bytes))
  const [x, y] = [side(a, 0), side(b, 1)]
  const [w, l] = compareBytes(x[0]!.id, y[0]!.id) < 0 ? [x, y] : [y, x]
  return { genesis: decodeOp(a.genesis), common, r, W: w[0]!, wn: w[1]!, wn2: w[2]!, L: l[0]!, ln: l[1]! }
}

function stateOf (f: ReturnType<typeof forked>, order: DecodedOp[]): LedgerState {
  const s = new LedgerState(f.genesis, { retainOps: true })
  for (const d of [...f.common, ...order]) s.add(d)
  return s
}

const status = (s: LedgerState, d: DecodedOp): string => s.statusOf(d.op.author, d.op.seq, d.id)

describe('held ops above a fork', () => {
  it('an op waiting for its prev is frozen once the prev arrives above the fork, as in any other order', () => {
    const f = forked()
    const late = stateOf(f, [f.W, f.L, f.wn, f.wn2]) // wn2 arrives after the fork is known
    const early = stateOf(f, [f.W, f.wn2, f.L, f.wn]) // wn2 arrives before: it waits for wn
    expect(status(late, f.wn2)).toBe('frozen')
    expect.soft(status(early, f.wn2)).toBe('frozen') // fails: 'pending'
    expect.soft(early.pendingCount).toBe(0) // fails: 1
    expect.soft(early.missing()).toEqual([]) // fails: asks for (r, 1), which it holds (frozen)
    // A snapshot holds pending ops "again as they were": here the restore changes it.
    const ops = [...f.common, f.W, f.wn2, f.L, f.wn]
    const restored = decodeSnapshot(f.genesis, encodeSnapshot(early), { opAt: key => ops.find(d => opKey(d.op.author, d.op.seq, d.id).join('/') === key.join('/')) })
    expect.soft(status(restored, f.wn2)).toBe(status(early, f.wn2))
  })

  it('the rest of a losing branch is void whatever the order', () => {
    const f = forked()
    expect(status(stateOf(f, [f.W, f.ln, f.L]), f.ln)).toBe('void')
    expect(status(stateOf(f, [f.W, f.L, f.ln]), f.ln)).toBe('void') // fails: 'frozen'
  })
})
