/**
 * Contract resident: any account but a consumer device funds a registered consumer device, optionally
 * for a funding window. Inside the window the device burns the funder's units; what is left once the
 * device's chain has passed the window's end goes back to the funder (credits.ts).
 */
import type { ResidentTransferBody } from '@microgrid/protocol'
import { reject, RuleViolation } from '../rules.ts'
import type { CausalView, Effect } from './view.ts'

export function resident (body: ResidentTransferBody, view: CausalView): RuleViolation | Effect {
  const to = view.account(body.to)
  if (view.registration(to)?.role !== 'consumer') return reject('not-device', 'contract resident funds registered consumer devices only')
  const available = view.transferable()
  if (body.wh > available) return reject('insufficient-funds', `${body.wh} Wh asked, ${available} Wh transferable within the credits this op's deps declare`)
  return { type: 'transfer', to, wh: body.wh, window: body.window, settles: null }
}
