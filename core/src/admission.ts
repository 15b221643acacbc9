/**
 * Causal admission: the ops a replica holds but has not decided. An op waits (pending) until its prev
 * and every dep are decided, filed under the first position it lacks; an op above its author's
 * unlifted fork is frozen; an op on a losing branch, or whose prev is not the surviving op, is void.
 * Ops are keyed by id: two ops at one position may both wait.
 */
import { toHex, type DecodedOp } from '@microgrid/protocol'

export type HeldStatus = 'pending' | 'frozen' | 'void'

/** `${chain index}:${seq}`: a chain position, as the key ops wait under. */
export function slotKey (chain: number, seq: number): string {
  return `${chain}:${seq}`
}

export class HeldOps {
  /** Pending ops by id (hex), by the position they wait for, and by their own position. */
  readonly pending = new Map<string, DecodedOp>()
  readonly waiting = new Map<string, DecodedOp[]>()
  readonly #at = new Map<string, DecodedOp[]>()
  /** Each pending op's own position and the position it waits for. */
  readonly #slots = new Map<DecodedOp, { own: string, waitFor: string }>()
  /** Ops above their author's fork, by id (hex), with their chain index. */
  readonly frozen = new Map<string, { chain: number, op: DecodedOp }>()
  /** Void ops by id (hex): their chain index and seq (with the id, their storage key). */
  readonly void = new Map<string, { chain: number, seq: number }>()

  get empty (): boolean {
    return this.pending.size === 0 && this.frozen.size === 0 && this.void.size === 0
  }

  status (idHex: string): HeldStatus | undefined {
    if (this.pending.has(idHex)) return 'pending'
    if (this.frozen.has(idHex)) return 'frozen'
    if (this.void.has(idHex)) return 'void'
    return undefined
  }

  addPending (op: DecodedOp, chain: number, waitFor: string): void {
    this.pending.set(toHex(op.id), op)
    push(this.waiting, waitFor, op)
    const own = slotKey(chain, op.op.seq)
    push(this.#at, own, op)
    this.#slots.set(op, { own, waitFor })
  }

  /** Takes every pending op at a position of its own chain out of the pending set. */
  takePendingAt (chain: number, seq: number): DecodedOp[] {
    const own = slotKey(chain, seq)
    const list = this.#at.get(own)
    if (list === undefined) return []
    this.#at.delete(own)
    for (const op of list) {
      this.pending.delete(toHex(op.id))
      const { waitFor } = this.#slots.get(op) as { waitFor: string }
      this.#slots.delete(op)
      const waiting = this.waiting.get(waitFor) as DecodedOp[]
      if (waiting.length === 1) this.waiting.delete(waitFor)
      else waiting.splice(waiting.indexOf(op), 1)
    }
    return list
  }

  /** Pending ops at a position of their own chain. */
  pendingAt (chain: number, seq: number): readonly DecodedOp[] | undefined {
    return this.#at.get(slotKey(chain, seq))
  }

  /** The ops waiting for `slot`, no longer pending (they are about to be admitted again). */
  takeWaiting (slot: string): DecodedOp[] | undefined {
    const list = this.waiting.get(slot)
    if (list === undefined) return undefined
    this.waiting.delete(slot)
    for (const op of list) {
      this.pending.delete(toHex(op.id))
      const { own } = this.#slots.get(op) as { own: string }
      this.#slots.delete(op)
      const at = this.#at.get(own) as DecodedOp[]
      if (at.length === 1) this.#at.delete(own)
      else at.splice(at.indexOf(op), 1)
    }
    return list
  }

  addFrozen (chain: number, op: DecodedOp): void {
    this.frozen.set(toHex(op.id), { chain, op })
  }

  addVoid (chain: number, seq: number, idHex: string): void {
    this.void.set(idHex, { chain, seq })
  }

  /** Forgets every held op of the chains given (their ops are about to be decided again). */
  removeChains (chains: ReadonlySet<number>, chainOf: (op: DecodedOp) => number): void {
    for (const [id, op] of this.pending) if (chains.has(chainOf(op))) this.pending.delete(id)
    for (const [slot, list] of this.#at) {
      if (!chains.has(chainOf(list[0] as DecodedOp))) continue
      this.#at.delete(slot)
      for (const op of list) this.#slots.delete(op)
    }
    for (const [slot, list] of this.waiting) {
      const kept = list.filter(op => !chains.has(chainOf(op)))
      if (kept.length === 0) this.waiting.delete(slot)
      else if (kept.length !== list.length) this.waiting.set(slot, kept)
    }
    for (const [id, f] of this.frozen) if (chains.has(f.chain)) this.frozen.delete(id)
    for (const [id, v] of this.void) if (chains.has(v.chain)) this.void.delete(id)
  }
}

function push (map: Map<string, DecodedOp[]>, key: string, op: DecodedOp): void {
  const list = map.get(key)
  if (list === undefined) map.set(key, [op])
  else list.push(op)
}
