/**
 * Writing new ops: the next position in the signer's chain, a ts that never goes backwards, and the
 * deps that make the op valid on every replica (the heads of the chains whose ops it relies on).
 */
import {
  LIMITS, PROTOCOL_VERSION, signOp,
  type BodyOf, type Dep, type OpKind, type OpSigner, type PublicKey, type UnsignedOp, type UnsignedOpOf
} from '@microgrid/protocol'
import type { Clock } from './clock.ts'
import type { ChainView as Chain } from './chain.ts'
import type { LedgerState } from './state.ts'

/** Builds the unsigned op `author` would sign next, given what this replica holds. */
export function draftOp<K extends OpKind> (state: LedgerState, author: PublicKey, kind: K, body: BodyOf[K], clock: Clock): UnsignedOpOf<K> {
  const chain = state.chain(author)
  const seq = chain.length
  return {
    v: PROTOCOL_VERSION,
    grid: state.gridId,
    kind,
    author: chain.key,
    seq,
    prev: seq === 0 ? null : chain.idAt(seq - 1).slice(),
    deps: depsFor(state, chain, kind, body),
    ts: Math.max(clock.now(), chain.lastTs),
    body
  }
}

/** Drafts and signs in one step: the wire bytes, ready to apply and publish. */
export function createOp<K extends OpKind> (state: LedgerState, signer: OpSigner, kind: K, body: BodyOf[K], clock: Clock): { id: Uint8Array, bytes: Uint8Array } {
  const { id, bytes } = signOp(draftOp(state, signer.publicKey, kind, body, clock) as UnsignedOp, signer)
  return { id, bytes }
}

/**
 * Registrars (registrations and their time), the cited receipt's oracle, a receipt's payee (its price
 * in the receipt's past fixes the sale), a mint's authorities (witnessed time), and every chain that
 * credited the author with something its frontier does not cover yet, largest first, up to the wire limit.
 */
export function depsFor<K extends OpKind> (state: LedgerState, chain: Chain, kind: K, body: BodyOf[K]): Dep[] {
  const wanted = new Map<number, number>()
  const consider = (c: Chain, weight: number): void => {
    if (c.idx === chain.idx || c.length === 0) return
    if ((chain.frontier.get(c.idx) ?? -1) >= c.length - 1) return
    wanted.set(c.idx, Math.max(wanted.get(c.idx) ?? 0, weight))
  }
  for (const key of state.genesis.registrars) consider(state.chain(key), Number.MAX_SAFE_INTEGER)
  if (kind === 'transfer') {
    const receipt = (body as BodyOf['transfer']).receipt
    if (receipt !== null) consider(state.chain(receipt[0]), Number.MAX_SAFE_INTEGER)
  }
  if (kind === 'receipt') consider(state.chain((body as BodyOf['receipt']).payee), Number.MAX_SAFE_INTEGER)
  if (kind === 'mint') for (const key of state.genesis.oracles) consider(state.chain(key), Number.MAX_SAFE_INTEGER)
  if (kind === 'transfer' || kind === 'burn') {
    for (const idx of chain.creditors) {
      const creditor = state.chains[idx] as Chain
      consider(creditor, creditor.credits.get(chain.idx)?.entries.at(-2) ?? 0)
    }
  }
  return [...wanted]
    .sort((a, b) => b[1] - a[1])
    .slice(0, LIMITS.maxDeps)
    .map(([idx]) => state.chains[idx] as Chain)
    .sort((a, b) => a.hex < b.hex ? -1 : 1)
    .map((c): Dep => [c.key, c.length - 1])
}
