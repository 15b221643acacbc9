/** Contract wholesale-seller: a registered producer settles a utility's payment in energy, at its wholesale price. */
import { reject, RuleViolation } from '../rules.ts'
import { saleReceipt, settle } from './sale.ts'
import type { CausalView, Effect } from './view.ts'
import type { SaleTransferBody } from '@microgrid/protocol'

export function wholesaleSeller (body: SaleTransferBody, view: CausalView): RuleViolation | Effect {
  const found = saleReceipt(body, view)
  if (found instanceof RuleViolation) return found
  if (view.registration(view.author)?.role !== 'producer') return reject('not-seller', 'wholesale sellers are registered producers')
  if (view.registration(view.account(body.to))?.role !== 'utility') return reject('not-utility', 'wholesale buyers are registered utilities')
  return settle(body, view, found.receipt, found.position)
}
