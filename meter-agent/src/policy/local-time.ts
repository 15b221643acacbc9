/**
 * The grid's local time, through `Intl.DateTimeFormat` alone (no time-zone library): the local hour
 * and date of an instant, and the instants at which they change, daylight-saving transitions included.
 * Everything takes the instant as an argument (ms since the epoch); nothing reads a clock.
 */

const HOUR_MS = 3_600_000

/** One formatter per zone ('' is the system's zone): building one costs far more than using it. */
const formatters = new Map<string, Intl.DateTimeFormat>()

function formatter (timeZone: string | undefined): Intl.DateTimeFormat {
  const key = timeZone ?? ''
  let f = formatters.get(key)
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      numberingSystem: 'latn',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric'
    })
    formatters.set(key, f)
  }
  return f
}

/** The wall-clock reading of an instant in a zone. `month` is 1-12. */
export interface LocalParts {
  year: number
  month: number
  day: number
  hour: number
  minute: number
  second: number
}

/**
 * Throws a RangeError naming `option` unless `timeZone` is undefined (the system's zone) or an IANA
 * zone that `Intl` knows.
 */
export function checkTimeZone (timeZone: unknown, option = 'timeZone'): void {
  if (timeZone === undefined) return
  if (typeof timeZone !== 'string' || timeZone === '') throw new RangeError(`${option} must be an IANA time zone name such as "America/Puerto_Rico", got ${JSON.stringify(timeZone)}`)
  try {
    formatter(timeZone)
  } catch {
    throw new RangeError(`${option} is not a time zone this runtime knows: ${JSON.stringify(timeZone)}`)
  }
}

/** The wall-clock reading through Intl itself (slow: a few µs to tens of µs). */
function formattedParts (t: number, timeZone: string | undefined): LocalParts {
  const parts: LocalParts = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 }
  for (const p of formatter(timeZone).formatToParts(t)) {
    if (p.type in parts) parts[p.type as keyof LocalParts] = Number(p.value)
  }
  return parts
}

function formattedOffset (t: number, timeZone: string | undefined): number {
  const p = formattedParts(t, timeZone)
  const ms = ((t % 1000) + 1000) % 1000
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) + ms - t
}

/**
 * Offsets by zone and UTC hour: the offset at both ends of the hour when they agree (the offset is
 * then taken to hold for the whole hour: zones change offset at most once in a few months), or null
 * for an hour holding a transition, whose instants are each asked of Intl.
 */
const hourOffsets = new Map<string, Map<number, number | null>>()
const MAX_CACHED_HOURS = 4096

/** Local time minus UTC at instant `t`, in ms (e.g. -14,400,000 in New York in summer). */
export function offsetAt (t: number, timeZone?: string): number {
  const key = timeZone ?? ''
  let cache = hourOffsets.get(key)
  if (cache === undefined) hourOffsets.set(key, cache = new Map())
  const h = Math.floor(t / HOUR_MS)
  let offset = cache.get(h)
  if (offset === undefined) {
    const start = formattedOffset(h * HOUR_MS, timeZone)
    offset = start === formattedOffset(h * HOUR_MS + HOUR_MS - 1, timeZone) ? start : null
    if (cache.size >= MAX_CACHED_HOURS) cache.clear()
    cache.set(h, offset)
  }
  return offset ?? formattedOffset(t, timeZone)
}

/** The local wall-clock reading of instant `t` in `timeZone` (the system's zone if undefined). */
export function localParts (t: number, timeZone?: string): LocalParts {
  const d = new Date(t + offsetAt(t, timeZone))
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds() }
}

/** The local date of instant `t`, as YYYY-MM-DD. */
export function localDate (t: number, timeZone?: string): string {
  return formatDate(localParts(t, timeZone))
}

function formatDate (p: { year: number, month: number, day: number }): string {
  return `${String(p.year).padStart(4, '0')}-${String(p.month).padStart(2, '0')}-${String(p.day).padStart(2, '0')}`
}

/** Whether `date` is a real calendar date written YYYY-MM-DD. */
export function isIsoDate (date: unknown): date is string {
  if (typeof date !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(date)) return false
  const [y, m, d] = date.split('-').map(Number) as [number, number, number]
  const t = new Date(Date.UTC(y, m - 1, d))
  t.setUTCFullYear(y) // years 0-99 would otherwise be read as 1900-1999
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d
}

/** The date after `date` (both YYYY-MM-DD). */
export function nextDate (date: string): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number]
  const t = new Date(Date.UTC(y, m - 1, d + 1))
  return formatDate({ year: t.getUTCFullYear(), month: t.getUTCMonth() + 1, day: t.getUTCDate() })
}

/**
 * The first instant of local date `date` (YYYY-MM-DD) in `timeZone`: its local midnight, or the first
 * instant after a transition that skipped midnight. Exact to the ms.
 */
export function startOfLocalDate (date: string, timeZone?: string): number {
  const key = `${timeZone ?? ''} ${date}`
  let start = dateStarts.get(key)
  if (start === undefined) {
    if (dateStarts.size >= MAX_CACHED_DATES) dateStarts.clear()
    dateStarts.set(key, start = findStartOfLocalDate(date, timeZone))
  }
  return start
}

const dateStarts = new Map<string, number>()
const MAX_CACHED_DATES = 4096

function findStartOfLocalDate (date: string, timeZone: string | undefined): number {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number]
  const base = Date.UTC(y, m - 1, d)
  // The usual case: midnight under the offset in force around it.
  let guess = base - offsetAt(base, timeZone)
  const second = base - offsetAt(guess, timeZone)
  if (second !== guess) guess = second
  if (localDate(guess, timeZone) === date && localDate(guess - 1, timeZone) < date) return guess
  // A transition at midnight: the first instant whose local date is `date` or later. Offsets stay
  // within -12 h and +14 h, so the answer lies within [base - 15 h, base + 13 h].
  let lo = base - 15 * HOUR_MS // local date before `date`
  let hi = base + 13 * HOUR_MS // local date `date` or later
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2)
    if (localDate(mid, timeZone) >= date) hi = mid
    else lo = mid
  }
  return hi
}

/**
 * The next instant after `t` at which the local wall clock starts an hour or the zone's offset changes
 * (a daylight-saving transition), whichever comes first. Local dates and hours only ever change at
 * these instants.
 */
export function nextLocalBoundary (t: number, timeZone?: string): number {
  const offset = offsetAt(t, timeZone)
  const local = t + offset
  // The next whole local hour if the offset stays as it is.
  const candidate = local - (((local % HOUR_MS) + HOUR_MS) % HOUR_MS) + HOUR_MS - offset
  if (offsetAt(candidate, timeZone) === offset) return candidate
  // The offset changed in (t, candidate]: find the first instant under the new offset.
  let lo = t
  let hi = candidate
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2)
    if (offsetAt(mid, timeZone) === offset) lo = mid
    else hi = mid
  }
  return hi
}

export { HOUR_MS }
