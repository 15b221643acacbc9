/** Contract retail-seller: the utility, or a producer selling to a neighbour, settles a resident's payment in energy, at its retail price. */
import { reject, RuleViolation } from '../rules.ts'
import { saleReceipt, settle } from './sale.ts'
import type { CausalView, Effect } from './view.ts'
import type { SaleTransferBody } from '@microgrid/protocol'

export function retailSeller (body: SaleTransferBody, view: CausalView): RuleViolation | Effect {
  const found = saleReceipt(body, view)
  if (found instanceof RuleViolation) return found
  const role = view.registration(view.author)?.role
  if (role !== 'producer' && role !== 'utility') return reject('not-seller', 'retail sellers are registered utilities or producers')
  return settle(body, view, found.receipt, found.position)
}
