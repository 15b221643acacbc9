/** Reading ids from requests: malformed → 400, unknown to the ledger → 404. */
import { parseAccountId, type PublicKey } from '@microgrid/protocol'
import type { ChainView, LedgerState } from '@microgrid/core'
import { ApiError } from './errors.ts'

/** The key of an account id a request names; 400 naming the field if it is not one. */
export function keyFrom (text: string, field: string): PublicKey {
  try {
    return parseAccountId(text)
  } catch (err) {
    throw new ApiError(400, 'bad-request', `${field}: ${(err as Error).message}`)
  }
}

/** Whether the ledger has seen the account: ops, units, credits on their way, a registration or a genesis role. */
export function isKnown (state: LedgerState, key: PublicKey): boolean {
  const chain = state.findChain(key)
  return chain !== undefined && (chain.length > 0 || chain.balance !== 0 || chain.creditors.size > 0 || state.registrationOf(chain.key) !== undefined ||
    state.hasRole(chain.idx, 'registrar') || state.hasRole(chain.idx, 'oracle'))
}

/** The account's chain; 404 `unknown-account` if the ledger has never seen it. */
export function knownAccount (state: LedgerState, text: string, field: string): ChainView {
  const key = keyFrom(text, field)
  if (!isKnown(state, key)) throw new ApiError(404, 'unknown-account', `${field}: the ledger knows no account ${text}`)
  return state.findChain(key) as ChainView
}
