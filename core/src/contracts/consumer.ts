/** Contract consumer: only the device's meter burns, from the funds usable at the burn's ts. */
import { reject } from '../rules.ts'
import type { Contract } from './view.ts'

export const consumer: Contract<'burn'> = (op, view) => {
  const device = view.author
  if (view.registration(device)?.role !== 'consumer') return reject('not-device', 'only a registered consumer device\'s meter burns')
  const { wh, total } = op.body
  const previous = device.reading ?? total - wh
  if (total !== previous + wh) return reject('reading-mismatch', `reading ${total} ≠ previous reading ${previous} + ${wh} Wh`)
  const usable = view.usableAt(op.ts)
  if (wh > usable) return reject('insufficient-funds', `${wh} Wh burned, ${usable} Wh funded for ts ${op.ts}`)
  return { type: 'burn', wh, total }
}
