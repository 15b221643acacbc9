/**
 * What wholesale-seller and retail-seller share: the amount is fixed by the receipt and the price the
 * receipt's past holds; only the payee settles, only to the payer, once per payment id.
 */
import type { SaleTransferBody } from '@microgrid/protocol'
import { reject, RuleViolation, whForPayment } from '../rules.ts'
import { receiptPosition } from '../receipts.ts'
import type { CausalView, Effect, Receipt } from './view.ts'

/** The receipt a sale settles, checked; or why it cannot be settled by this op. */
export function saleReceipt (body: SaleTransferBody, view: CausalView): RuleViolation | { receipt: Receipt, position: number } {
  const seller = view.author
  const oracle = view.account(body.receipt[0])
  if (!view.sees(oracle, body.receipt[1])) return reject('receipt-not-in-deps', 'the cited receipt is not within this op\'s deps')
  const receipt = view.receipt(oracle, body.receipt[1])
  if (receipt === undefined) return reject('not-a-receipt', 'the cited op is not an accepted receipt')
  if (receipt.contract !== body.contract) return reject('wrong-contract', `the receipt is for ${receipt.contract}, not ${body.contract}`)
  if (receipt.payee !== seller.idx) return reject('wrong-payee', 'only the payee of a receipt settles it')
  if (receipt.payer !== view.account(body.to).idx) return reject('wrong-recipient', 'a sale credits the payer of its receipt')
  return { receipt, position: receiptPosition(oracle.idx, body.receipt[1]) }
}

/** The transfer a valid sale makes: ⌊fiat × 1,000,000 ÷ the price in the receipt's past⌋ Wh, covered by the seller's credits. */
export function settle (body: SaleTransferBody, view: CausalView, receipt: Receipt, position: number): RuleViolation | Effect {
  if (view.settled(receipt.paymentId)) return reject('already-settled', `payment ${receipt.paymentId} is already settled`)
  const which = body.contract === 'wholesale-seller' ? 'wholesale' : 'retail'
  if (receipt.price === null) return reject('no-price', `the receipt's past holds no ${which} price of the seller: it can never settle`)
  const wh = whForPayment(receipt.amount, receipt.price)
  if (wh === 0) return reject('payment-too-small', `${receipt.amount} minor units buy less than 1 Wh at ${receipt.price} per MWh`)
  if (body.wh !== wh) return reject('wrong-amount', `⌊${receipt.amount} × 1,000,000 ÷ ${receipt.price}⌋ = ${wh} Wh, not ${body.wh}`)
  const available = view.transferable()
  if (wh > available) return reject('insufficient-funds', `${wh} Wh asked, ${available} Wh transferable within the credits this op's deps declare`)
  return { type: 'transfer', to: view.account(body.to), wh, window: null, settles: { position, paymentId: receipt.paymentId } }
}
