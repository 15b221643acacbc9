/**
 * Receipts are keyed by position (oracle chain index × 2^32 + seq: one number instead of a string),
 * and indexed by payment id, so a receipt or a sale can ask whether a payment id is in its past.
 */

export const RECEIPT_SPAN = 2 ** 32

export function receiptPosition (oracle: number, seq: number): number {
  return oracle * RECEIPT_SPAN + seq
}

export function positionChain (position: number): number {
  return Math.floor(position / RECEIPT_SPAN)
}

export function positionSeq (position: number): number {
  return position % RECEIPT_SPAN
}

/** Positions of the accepted receipts of each payment id (almost always one). */
export class PaymentIndex {
  readonly #byId = new Map<string, number | number[]>()

  add (paymentId: string, position: number): void {
    const at = this.#byId.get(paymentId)
    if (at === undefined) this.#byId.set(paymentId, position)
    else if (typeof at === 'number') this.#byId.set(paymentId, [at, position])
    else at.push(position)
  }

  remove (paymentId: string, position: number): void {
    const at = this.#byId.get(paymentId)
    if (at === undefined) return
    if (typeof at === 'number') {
      if (at === position) this.#byId.delete(paymentId)
      return
    }
    const rest = at.filter(p => p !== position)
    if (rest.length === 0) this.#byId.delete(paymentId)
    else this.#byId.set(paymentId, rest.length === 1 ? rest[0] as number : rest)
  }

  /** Whether some receipt of `paymentId` satisfies `seen`. */
  some (paymentId: string, seen: (position: number) => boolean): boolean {
    const at = this.#byId.get(paymentId)
    if (at === undefined) return false
    return typeof at === 'number' ? seen(at) : at.some(seen)
  }

  positions (paymentId: string): number[] {
    const at = this.#byId.get(paymentId)
    return at === undefined ? [] : typeof at === 'number' ? [at] : [...at]
  }
}
