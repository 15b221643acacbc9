/**
 * Contract generator: a registered generation meter mints for its producer. Plausibility is cumulative
 * since registration and counts only time the grid's authorities witnessed: everything the meter minted
 * so far plus this mint must fit in capacity × (the earlier of the mint's ts and the latest authority
 * time in its past plus the policy slack − the registration's time). A meter's own clock alone never
 * buys energy; a meter that was offline mints what it metered once it cites a fresh beacon.
 */
import { maxWhFor, reject } from '../rules.ts'
import type { Contract } from './view.ts'

export const generator: Contract<'mint'> = (op, view) => {
  const meter = view.author
  const reg = view.registration(meter)
  if (reg?.role !== 'generation-meter' || reg.body.role !== 'producer') return reject('not-meter', 'only a registered generation meter mints')
  const { wh, total } = op.body
  const previous = meter.reading ?? total - wh
  if (total !== previous + wh) return reject('reading-mismatch', `reading ${total} ≠ previous reading ${previous} + ${wh} Wh`)
  const witnessed = view.witnessed()
  const until = Math.min(op.ts, witnessed + view.mintSlackMs)
  const limit = maxWhFor(reg.body.capacityW, until - reg.ts)
  if (meter.minted + wh > limit) {
    return reject('implausible-mint', `${meter.minted + wh} Wh since registration exceed what ${reg.body.capacityW} W produce in the ${Math.max(0, until - reg.ts)} ms the grid witnessed (at most ${limit} Wh; latest authority time in this op's deps ${witnessed}, slack ${view.mintSlackMs} ms)`)
  }
  return { type: 'mint', account: view.account(reg.body.account), wh, total }
}
