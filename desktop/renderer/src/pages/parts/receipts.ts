import type { Receipt } from '../../data/types.ts'

/** Why a receipt is not settled yet, in plain words. */
export function waitingReason (receipt: Receipt): string {
  switch (receipt.reason) {
    case null: return 'The seller\'s node is sending the energy.'
    case 'insufficient-funds': return 'The seller does not hold enough energy yet; it is sent once it does.'
    case 'no-price': return 'The seller had no price for this sale: it can never be delivered.'
    case 'payment-too-small': return 'The payment is too small to buy any energy.'
    case 'seller-frozen': return 'The seller\'s account is frozen.'
    case 'seller-undecided': return 'The seller\'s node is still busy; it will be sent shortly.'
    default: return receipt.message ?? receipt.reason
  }
}
