/**
 * Actions sign ops with the node's keys. An op the rules would reject is never signed: a rejected op
 * keeps its position in the signer's chain for good (and travels to every peer), so a bad request
 * would change the ledger. Each action is therefore checked first against the same contract code the
 * ledger runs (`check`), over the causal past the op would declare, and signed only if it passes.
 * An action signs in its key's turn (`inTurn`, shared with the node's settlement, payment and beacon
 * services) and only when the node holds nothing of the key undecided, so it never forks a key's chain.
 */
import {
  decodeOp, OpDecodeError, signOp, toHex,
  type BodyOf, type OpKind, type OpSigner, type PublicKey, type SignedOp, type UnsignedOp, type UnsignedOpOf
} from '@microgrid/protocol'
import {
  Chain, check, creditSum, creditsUpTo, draftOp, receiptPosition, RuleViolation,
  type CausalView, type ChainView, type IngestResult, type LedgerState, type RejectCode
} from '@microgrid/core'
import { canSign, inTurn } from '../settlement.ts'
import type { ApiContext } from './context.ts'
import { ApiError } from './errors.ts'

/**
 * Whether the rules would accept `op` as the next op of its author on this replica: the contract's
 * verdict over the author's chain plus the positions the op's deps declare, computed without
 * changing the state. Null when it would apply.
 */
export function wouldReject (state: LedgerState, op: UnsignedOp): RuleViolation | null {
  const chain = state.findChain(op.author)
  if (chain === undefined) throw new Error('draft first: the author has no chain')
  if (op.ts < chain.lastTs) return new RuleViolation('ts-backwards', `ts ${op.ts} is before the previous op's ts ${chain.lastTs}`)
  const frontier = new Map(chain.frontier)
  let declared = chain.declared
  let witnessed = chain.witnessed
  for (const [key, seq] of op.deps) {
    const dep = state.findChain(key)
    if (dep === undefined) continue
    const before = frontier.get(dep.idx) ?? -1
    if (seq <= before) continue
    if (dep.tsAt !== null) witnessed = Math.max(witnessed, dep.tsAt[seq] ?? 0)
    const list = dep.credits.get(chain.idx)
    // The credits in (before, seq] of its list: what the op's dep on this chain declares.
    if (list !== undefined) declared += creditSum(list.entries, creditsUpTo(list.entries, before), creditsUpTo(list.entries, seq))
    frontier.set(dep.idx, seq)
  }
  // The author as of the op: its chain with the op's deps declared.
  const author: ChainView = Object.create(chain, {
    frontier: { value: frontier },
    declared: { value: declared },
    witnessed: { value: witnessed }
  }) as ChainView
  const view: CausalView = {
    author,
    currency: state.genesis.currency,
    mintSlackMs: state.mintSlackMs,
    account: key => state.findChain(key) ?? unknownAccount(key),
    isRegistrar: a => state.hasRole(a.idx, 'registrar'),
    isOracle: a => state.hasRole(a.idx, 'oracle'),
    isDevice: a => state.hasRole(a.idx, 'device'),
    registration: a => a.idx < 0 ? undefined : state.registrationSeenBy(author, a),
    sees: (a, seq) => state.sees(author, a.idx, seq),
    receipt: (oracle, seq) => state.receiptAtPosition(receiptPosition(oracle.idx, seq)),
    priceSeen: (seller, which) => {
      const upto = seller.idx === author.idx ? author.length - 1 : (frontier.get(seller.idx) ?? -1)
      return upto < 0 ? null : seller.priceAt(upto, which)
    },
    paymentSeen: id => state.paymentSeenBy(author, id),
    settled: id => author.settledIds?.has(id) ?? false,
    transferable: () => author.declared - author.spent,
    usableAt: t => author.funds?.usableAt(t) ?? 0,
    witnessed: () => author.witnessed
  }
  const verdict = check({ ...op, sig: new Uint8Array(64) } as SignedOp, view)
  return verdict instanceof RuleViolation ? verdict : null
}

/** A key the state has never seen, as the rules would see it: an empty chain, registered as nothing. */
function unknownAccount (key: PublicKey): ChainView {
  return new Chain(-1, key, toHex(key))
}

export interface Signed {
  result: IngestResult
  bytes: Uint8Array
}

/**
 * Signs `signer`'s next op and submits it, if the rules would accept it: otherwise 422 with the rule's
 * code and reason, and nothing is signed. 409 when the key is frozen or has ops still undecided.
 */
export async function signChecked<K extends OpKind> (ctx: ApiContext, signer: OpSigner, kind: K, body: BodyOf[K]): Promise<Signed> {
  // In the key's turn: the node's services (settlement, payments, beacons) sign with the same keys.
  return await inTurn(ctx.node, signer.publicKey, async () => {
    const state = ctx.node.ledger.state
    const known = state.findChain(signer.publicKey)
    if (known !== undefined && Number.isFinite(known.frozenFrom)) {
      throw new ApiError(409, 'frozen', `the key is frozen since its fork at seq ${known.frozenFrom}: a registrar must lift the freeze before it signs again`)
    }
    if (!canSign(state, signer.publicKey)) {
      throw new ApiError(409, 'signer-busy', 'the ledger holds ops of this key it has not decided yet: signing now could fork its chain; try again once they are decided')
    }
    const draft = draftOp(state, signer.publicKey, kind, body, ctx.clock) as UnsignedOpOf<K> as UnsignedOp
    let bytes: Uint8Array
    try {
      // The codec's own checks (text limits, distinct keys, windows): a body it would refuse is a bad request.
      bytes = signOp(draft, signer).bytes
      decodeOp(bytes)
    } catch (err) {
      if (err instanceof OpDecodeError) throw new ApiError(400, 'bad-request', `the op would be malformed: ${err.message}`)
      throw err
    }
    const violation = wouldReject(state, draft)
    if (violation !== null) throw new ApiError(422, violation.code, violation.message)
    const result = await ctx.node.submit(bytes)
    if (result.status === 'rejected') throw new ApiError(422, result.code, result.reason)
    return { result, bytes }
  })
}

export type { RejectCode }
