/** `price`: a registered producer or utility sets its wholesale and/or retail price (minor units per MWh). */
import { reject } from '../rules.ts'
import type { Contract } from './view.ts'

export const price: Contract<'price'> = (op, view) => {
  const role = view.registration(view.author)?.role
  if (role !== 'producer' && role !== 'utility') return reject('not-seller', 'only a registered producer or utility sets prices')
  return { type: 'price', wholesale: op.body.wholesale, retail: op.body.retail }
}
