/**
 * The rules by op kind and contract: one module each. `check` is the only entry point the state uses.
 *
 *   generator.ts          mint        contract generator
 *   wholesale-seller.ts   transfer    contract wholesale-seller
 *   retail-seller.ts      transfer    contract retail-seller
 *   resident.ts           transfer    contract resident
 *   consumer.ts           burn        contract consumer
 *   registration.ts       register    price.ts   price     receipt.ts   receipt
 *   unfreeze.ts           unfreeze    time.ts    beacon
 */
import type { SignedOp, SignedOpOf } from '@microgrid/protocol'
import { reject, type RuleViolation } from '../rules.ts'
import { consumer } from './consumer.ts'
import { generator } from './generator.ts'
import { price } from './price.ts'
import { receipt } from './receipt.ts'
import { registration } from './registration.ts'
import { resident } from './resident.ts'
import { retailSeller } from './retail-seller.ts'
import { beacon } from './time.ts'
import { unfreeze } from './unfreeze.ts'
import { wholesaleSeller } from './wholesale-seller.ts'
import type { CausalView, Effect } from './view.ts'

export type { CausalView, Effect, Registration, Receipt, Role, Contract } from './view.ts'
export { NO_EFFECT } from './view.ts'

/** Every transfer leaves its author's account: a consumer device's never does. */
function transfer (op: SignedOpOf<'transfer'>, view: CausalView): RuleViolation | Effect {
  const body = op.body
  if (view.account(body.to).idx === view.author.idx) return reject('self-transfer', 'an account cannot pay itself')
  if (view.isDevice(view.author)) return reject('consumer-burn-only', 'a consumer account only burns: value never leaves it otherwise')
  switch (body.contract) {
    case 'resident': return resident(body, view)
    case 'wholesale-seller': return wholesaleSeller(body, view)
    case 'retail-seller': return retailSeller(body, view)
  }
}

export function check (op: SignedOp, view: CausalView): RuleViolation | Effect {
  switch (op.kind) {
    case 'register': return registration(op, view)
    case 'price': return price(op, view)
    case 'mint': return generator(op, view)
    case 'receipt': return receipt(op, view)
    case 'transfer': return transfer(op, view)
    case 'burn': return consumer(op, view)
    case 'unfreeze': return unfreeze(op, view)
    case 'beacon': return beacon(op, view)
    case 'genesis': return reject('not-registrar', 'a grid has one genesis')
  }
}
