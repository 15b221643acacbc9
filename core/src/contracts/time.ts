/**
 * `beacon`: a registrar's or an oracle's signed time. It moves nothing; its ts is time the grid's
 * authorities witnessed, which bounds what a generation meter citing it may mint (generator.ts).
 */
import { reject } from '../rules.ts'
import { NO_EFFECT, type Contract } from './view.ts'

export const beacon: Contract<'beacon'> = (_op, view) => {
  if (!view.isRegistrar(view.author) && !view.isOracle(view.author)) return reject('not-authority', 'only a registrar or a payment oracle of the genesis signs time beacons')
  return NO_EFFECT
}
