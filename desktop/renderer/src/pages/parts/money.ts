// Prices typed by a person (major units per kWh) to the ledger's minor units per MWh, and back.
import type { Currency } from '../../data/types.ts'

/** "0.125" $/kWh → 12500 ¢/MWh; throws a RangeError naming what is wrong. */
export function minorPerMWhFromText (text: string, currency: Currency, what: string): number {
  const trimmed = text.trim()
  if (!/^\d+(\.\d+)?$/.test(trimmed)) throw new RangeError(`${what}: enter a price like 0.125 (${currency.code} per kWh)`)
  const minor = Number(trimmed) * 10 ** currency.digits * 1000
  const rounded = Math.round(minor)
  if (Math.abs(minor - rounded) > 1e-6) throw new RangeError(`${what}: at most ${currency.digits + 3} decimals`)
  if (rounded <= 0) throw new RangeError(`${what}: must be more than 0`)
  return rounded
}

/** The amount typed in major units → minor units; throws a RangeError naming what is wrong. */
export function minorFromText (text: string, currency: Currency, what: string): number {
  const trimmed = text.trim()
  if (!/^\d+(\.\d+)?$/.test(trimmed)) throw new RangeError(`${what}: enter an amount like 12.50`)
  const minor = Number(trimmed) * 10 ** currency.digits
  const rounded = Math.round(minor)
  if (Math.abs(minor - rounded) > 1e-6) throw new RangeError(`${what}: at most ${currency.digits} decimals`)
  if (rounded <= 0) throw new RangeError(`${what}: must be more than 0`)
  return rounded
}

export const USD: Currency = { code: 'USD', digits: 2 }
