/** Why the rules refuse an op. Every rejection carries one code and a sentence a person can act on. */
export const REJECT_CODES = [
  'ts-backwards', 'not-registrar', 'not-oracle', 'already-registered', 'not-seller', 'not-meter', 'not-device',
  'reading-mismatch', 'implausible-mint', 'wrong-currency', 'duplicate-payment', 'receipt-not-in-deps',
  'not-a-receipt', 'wrong-contract', 'wrong-payee', 'wrong-recipient', 'not-utility', 'already-settled',
  'no-price', 'wrong-amount', 'payment-too-small', 'insufficient-funds', 'consumer-burn-only', 'self-transfer',
  'overflow', 'not-authority'
] as const
export type RejectCode = typeof REJECT_CODES[number]

export class RuleViolation {
  readonly code: RejectCode
  readonly message: string
  constructor (code: RejectCode, message: string) {
    this.code = code
    this.message = message
  }
}

export function reject (code: RejectCode, message: string): RuleViolation {
  return new RuleViolation(code, message)
}

/** Wh bought: ⌊fiat minor units × 1,000,000 ÷ price in minor units per MWh⌋, exact in integers. */
export function whForPayment (amountMinor: number, pricePerMWh: number): number {
  return Number((BigInt(amountMinor) * 1_000_000n) / BigInt(pricePerMWh))
}

/** Generator plausibility: a meter of `capacityW` cannot produce more than capacity × elapsed time. */
export function maxWhFor (capacityW: number, elapsedMs: number): number {
  if (elapsedMs <= 0) return 0
  const wh = (BigInt(capacityW) * BigInt(elapsedMs)) / 3_600_000n
  return wh > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(wh)
}
