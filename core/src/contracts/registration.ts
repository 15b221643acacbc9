/** `register`: a registrar of the genesis registers a producer (account and meter), a consumer device or a utility, each key once. */
import { toHex, type PublicKey } from '@microgrid/protocol'
import { reject } from '../rules.ts'
import type { Contract, Role } from './view.ts'

export const registration: Contract<'register'> = (op, view) => {
  if (!view.isRegistrar(view.author)) return reject('not-registrar', 'only a registrar of the genesis may register')
  const body = op.body
  const keys: Array<[PublicKey, Role]> = body.role === 'producer'
    ? [[body.account, 'producer'], [body.meter, 'generation-meter']]
    : body.role === 'consumer' ? [[body.meter, 'consumer']] : [[body.account, 'utility']]
  const entries = keys.map(([key, role]) => [view.account(key), role] as const)
  for (const [account] of entries) {
    if (view.registration(account) !== undefined) return reject('already-registered', `${toHex(account.key).slice(0, 12)}… is already registered`)
  }
  return { type: 'register', entries: entries.map(([a, r]) => [a, r]) }
}
