/**
 * `unfreeze`: a registrar lifts the freeze of an account's fork at a seq, once the case is settled. It
 * counts only once applied (a frozen registrar's unfreeze above its own fork never is), whenever that is.
 */
import { reject } from '../rules.ts'
import type { Contract } from './view.ts'

export const unfreeze: Contract<'unfreeze'> = (op, view) => {
  if (!view.isRegistrar(view.author)) return reject('not-registrar', 'only a registrar may lift a freeze')
  return { type: 'pardon', account: view.account(op.body.account), seq: op.body.seq }
}
