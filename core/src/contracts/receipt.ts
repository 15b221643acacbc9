/**
 * `receipt`: a payment oracle of the genesis attests a fiat payment. The payee's price in the receipt's
 * causal past is the price of the sale that settles it (the price the payer saw), fixed here: a seller
 * cannot reprice a sale after being paid.
 */
import { reject } from '../rules.ts'
import type { Contract } from './view.ts'

export const receipt: Contract<'receipt'> = (op, view) => {
  if (!view.isOracle(view.author)) return reject('not-oracle', 'only a payment oracle of the genesis signs receipts')
  const { payer, payee, contract, amount, currency, paymentId } = op.body
  if (currency !== view.currency) return reject('wrong-currency', `the grid trades in ${view.currency}, not ${currency}`)
  if (view.paymentSeen(paymentId)) return reject('duplicate-payment', `payment ${paymentId} already has a receipt in this op's past`)
  const seller = view.account(payee)
  const price = view.priceSeen(seller, contract === 'wholesale-seller' ? 'wholesale' : 'retail')
  return { type: 'receipt', receipt: { payer: view.account(payer).idx, payee: seller.idx, contract, amount, paymentId, price } }
}
