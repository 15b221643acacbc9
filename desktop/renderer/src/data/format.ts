// Words and numbers a resident reads: kWh (the ledger counts Wh), money in the grid's currency,
// clock times and ages.
import type { Currency } from './types.ts'

const USD: Currency = { code: 'USD', digits: 2 }

/**
 * One Intl.NumberFormat per set of options: making one costs about 20 µs (toLocaleString with options
 * makes one per call), which a table of 10,000 devices turned into a fifth of a second.
 */
const formats = new Map<string, Intl.NumberFormat>()
function numberFormat (options: Intl.NumberFormatOptions): Intl.NumberFormat {
  const key = JSON.stringify(options)
  let format = formats.get(key)
  if (format === undefined) formats.set(key, format = new Intl.NumberFormat('en-US', options))
  return format
}

/** "1.25 kWh" from Wh (1 unit = 1 kWh). */
export function kwh (wh: number): string {
  const value = wh / 1000
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2
  return `${numberFormat({ minimumFractionDigits: 0, maximumFractionDigits: digits }).format(value)} kWh`
}

/** Minor units in major units ("dollars" for USD): 125 → 1.25. */
export function majorUnits (minor: number, currency: Currency = USD): number {
  return minor / 10 ** currency.digits
}

/** A price in minor units per MWh in major units per kWh: 125,000 → 1.25 ($ per kWh). */
export function majorPerKWh (minorPerMWh: number, currency: Currency = USD): number {
  // One division (1,000 kWh per MWh folded into the power of ten): the double nearest the exact price.
  return minorPerMWh / 10 ** (currency.digits + 3)
}

/** "$1.25" from minor units of the currency. */
export function money (minor: number, currency: Currency = USD): string {
  return majorMoney(majorUnits(minor, currency), currency)
}

/** "$1.25" from major units. */
export function majorMoney (major: number, currency: Currency = USD): string {
  return numberFormat({ style: 'currency', currency: currency.code, minimumFractionDigits: currency.digits, maximumFractionDigits: currency.digits }).format(major)
}

/** "$0.125 per kWh" from a price's major units per kWh. */
export function pricePerKwh (dollarsPerKWh: number, currency: Currency = USD): string {
  const text = numberFormat({ style: 'currency', currency: currency.code, minimumFractionDigits: currency.digits, maximumFractionDigits: currency.digits + 2 }).format(dollarsPerKWh)
  return `${text} per kWh`
}

/** Wh that `amountMinor` buys at `minorPerMWh`, as the ledger settles it: ⌊amount × 1,000,000 ÷ price⌋. */
export function whForPayment (amountMinor: number, minorPerMWh: number): number {
  return Math.floor(amountMinor * 1_000_000 / minorPerMWh)
}

/** Worth of `wh` at a price of `minorPerMWh`, in minor units. */
export function worthMinor (wh: number, minorPerMWh: number): number {
  return wh * minorPerMWh / 1_000_000
}

function pad (n: number): string { return String(n).padStart(2, '0') }

/** "23:10" (local time). */
export function clock (ms: number): string {
  const d = new Date(ms)
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`
}

/** "23:10" today, "tomorrow 06:00", "Tue 12 May 06:00" later or earlier. */
export function when (ms: number, now: number): string {
  const d = new Date(ms)
  const today = new Date(now)
  const dayDiff = Math.round((startOfDay(d) - startOfDay(today)) / 86_400_000)
  if (dayDiff === 0) return clock(ms)
  if (dayDiff === 1) return `tomorrow ${clock(ms)}`
  const date = d.toLocaleDateString('en-GB', { weekday: 'short', day: 'numeric', month: 'short' })
  return `${date} ${clock(ms)}`
}

function startOfDay (d: Date): number {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime()
}

/** "until about 23:10": when `usableWh` runs out at `watts`, or null with no load. */
export function untilAbout (usableWh: number, watts: number, now: number): string | null {
  if (watts <= 0) return null
  const end = now + usableWh / watts * 3_600_000
  return `until about ${when(end, now)}`
}

/** "just now", "5 s ago", "3 min ago", "2 h ago", "4 days ago". */
export function age (ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000))
  if (s < 3) return 'just now'
  if (s < 60) return `${s} s ago`
  const min = Math.floor(s / 60)
  if (min < 60) return `${min} min ago`
  const h = Math.floor(min / 60)
  if (h < 48) return `${h} h ago`
  return `${Math.floor(h / 24)} days ago`
}

/** "mg1q23q…y96dw": an id short enough to read, still telling ids apart. */
export function shortId (id: string): string {
  return id.length <= 16 ? id : `${id.slice(0, 7)}…${id.slice(-5)}`
}
