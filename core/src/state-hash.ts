/**
 * The state hash: sha256 over a canonical summary of everything the rules derived, in key order, so
 * two replicas holding the same ops agree byte for byte whatever order the ops arrived in. Chain heads
 * commit to every decided op (each op names its prev), the status digest to every verdict. Chain
 * indices differ between replicas (they follow arrival order), so the summary names accounts by key.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { compareBytes, sha256Digest, toHex } from '@microgrid/protocol'
import type { ChainView as Chain } from './chain.ts'
import type { LedgerState } from './state.ts'

export function stateHash (state: LedgerState): string {
  const keyOf = (idx: number): Uint8Array => (state.chains[idx] as Chain).key
  const chains = state.chains
    .filter(c => c.length > 0 || c.balance !== 0 || c.declared !== 0 || Number.isFinite(c.frozenFrom))
    .sort((a, b) => a.hex < b.hex ? -1 : a.hex > b.hex ? 1 : 0)
    .map((c: Chain) => [
      c.key,
      c.length,
      c.length > 0 ? c.idAt(c.length - 1) : null,
      sha256Digest(c.status.subarray(0, c.length)),
      c.balance,
      c.declared,
      c.spent,
      c.wholesale,
      c.retail,
      c.reading,
      c.minted,
      c.burned,
      c.funds === null
        ? null
        : [
            [...c.funds.funders].map(([f, a]) => [keyOf(f), a.put, a.burned, a.returned, a.general]).sort((x, y) => compareBytes(x[0] as Uint8Array, y[0] as Uint8Array)),
            c.funds.windows.map(w => [keyOf(w.funder), w.from, w.until, w.remaining]).sort((x, y) => compareBytes(x[0] as Uint8Array, y[0] as Uint8Array) || (x[1] as number) - (y[1] as number) || (x[2] as number) - (y[2] as number) || (x[3] as number) - (y[3] as number))
          ],
      Number.isFinite(c.frozenFrom) ? c.frozenFrom : null
    ])
  const equivocations = state.equivocations
    .map(e => [e.author, e.seq, e.ids])
    .sort((a, b) => JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)
  const devices = state.chains.filter(c => state.hasRole(c.idx, 'device')).map(c => toHex(c.key)).sort()
  const summary = { grid: state.gridId, minted: state.minted, burned: state.burned, settled: state.settledCount, chains, equivocations, devices }
  return toHex(sha256Digest(dagCbor.encode(summary)))
}
