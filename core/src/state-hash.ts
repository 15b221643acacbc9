/**
 * The state hash: sha256 over a canonical summary of everything the rules derived, in key order, so
 * two replicas holding the same ops agree byte for byte whatever order the ops arrived in. Chain heads
 * commit to every applied op (each op names its prev), the status digest to every verdict.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { sha256 } from '@noble/hashes/sha2.js'
import { toHex } from '@microgrid/protocol'
import type { Chain, LedgerState } from './state.ts'

export function stateHash (state: LedgerState): string {
  const chains = state.chains
    .filter(c => c.length > 0 || c.balance !== 0 || c.declared !== 0 || Number.isFinite(c.frozenFrom))
    .sort((a, b) => a.hex < b.hex ? -1 : a.hex > b.hex ? 1 : 0)
    .map((c: Chain) => [
      c.key,
      c.length,
      c.length > 0 ? c.idAt(c.length - 1) : null,
      sha256(c.status.subarray(0, c.length)),
      c.balance,
      c.declared,
      c.spent,
      c.burnOnly,
      c.wholesale,
      c.retail,
      c.reading,
      (c.windows ?? []).map(w => [w.from, w.until, w.remaining]).sort((x, y) => (x[0] as number) - (y[0] as number) || (x[1] as number) - (y[1] as number) || (x[2] as number) - (y[2] as number)),
      Number.isFinite(c.frozenFrom) ? c.frozenFrom : null
    ])
  const equivocations = state.equivocations
    .map(e => [e.author, e.seq, e.ids])
    .sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)
  const summary = { grid: state.gridId, minted: state.minted, burned: state.burned, settled: state.settledCount, chains, equivocations }
  return toHex(sha256(dagCbor.encode(summary)))
}
