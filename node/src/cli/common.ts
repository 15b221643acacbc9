/**
 * What every `microgrid` command shares: its errors and exit codes, its input and output, argument
 * parsing, and the units the commands read and print (kWh, money, prices, times, durations, hours).
 */
import { homedir } from 'node:os'
import { resolve } from 'node:path'
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util'
import { multiaddr } from '@multiformats/multiaddr'
import type { MicrogridNode } from '../node.ts'

// ---------------------------------------------------------------------------------------------------
// Errors and exit codes

/** Exit codes: 0 ok, 1 failed or refused, 2 usage error, 3 node not running or unreachable. */
export const EXIT = Object.freeze({ ok: 0, failed: 1, usage: 2, unreachable: 3 })

/** A failure with an exit code and a stable, machine-readable code (`--json` errors carry both). */
export class CliError extends Error {
  override readonly name: string = 'CliError'
  readonly code: string
  readonly exitCode: number
  /** More fields for the JSON error (the API's status, its verdict on an op). */
  readonly extra: Record<string, unknown> | undefined

  constructor (message: string, options: { code?: string, exitCode?: number, extra?: Record<string, unknown>, cause?: unknown } = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined)
    this.code = options.code ?? 'failed'
    this.exitCode = options.exitCode ?? EXIT.failed
    this.extra = options.extra
  }
}

/** Bad arguments: exit code 2, with the command's usage. */
export class UsageError extends CliError {
  override readonly name: string = 'UsageError'
  /** The command whose usage to print (`grid create`), when known. */
  command: string | undefined

  constructor (message: string, command?: string) {
    super(message, { code: 'usage', exitCode: EXIT.usage })
    this.command = command
  }
}

/** The node is not running, or does not answer: exit code 3. */
export class NotRunningError extends CliError {
  override readonly name: string = 'NotRunningError'

  constructor (message: string, cause?: unknown) {
    super(message, { code: 'not-running', exitCode: EXIT.unreachable, cause })
  }
}

/** The exit code for anything a command threw. */
export function exitCodeOf (err: unknown): number {
  return err instanceof CliError ? err.exitCode : EXIT.failed
}

/** The JSON error document printed on stderr with `--json`. */
export function errorJson (err: unknown): { error: Record<string, unknown> } {
  if (err instanceof CliError) return { error: { code: err.code, message: err.message, exitCode: err.exitCode, ...err.extra } }
  const e = err as { name?: unknown, message?: unknown }
  const code = e?.name === 'WrongPassphraseError' ? 'wrong-passphrase' : e?.name === 'KeystoreError' ? 'keystore' : 'failed'
  return { error: { code, message: typeof e?.message === 'string' ? e.message : String(err), exitCode: EXIT.failed } }
}

// ---------------------------------------------------------------------------------------------------
// Input and output

/** Where a command reads and writes; the defaults are the process's. Tests pass their own. */
export interface CliIo {
  /** One line of the command's result on stdout. */
  out: (line: string) => void
  /** One line of progress or a warning on stderr (never with --json, except errors). */
  err: (line: string) => void
  /** Writes to stderr without a newline (the progress bar redraws its line). */
  errRaw: (text: string) => void
  /** Whether stderr is a terminal: a progress bar, else plain lines. */
  errIsTTY: boolean
  env: NodeJS.ProcessEnv
  /** Asks for a passphrase when MICROGRID_PASSPHRASE is unset (default: a hidden prompt on a TTY). */
  prompt?: (question: string) => Promise<string>
}

export function processIo (): CliIo {
  return {
    out: line => { process.stdout.write(line + '\n') },
    err: line => { process.stderr.write(line + '\n') },
    errRaw: text => { process.stderr.write(text) },
    errIsTTY: process.stderr.isTTY === true,
    env: process.env
  }
}

/** What `start` (and the old `node`) leave running: stopped on SIGINT/SIGTERM. */
export interface Running {
  node: MicrogridNode
  /** The API's base URL (`start` only). */
  url?: string
  stop: () => Promise<void>
}

/** What a command gets: its options and positionals, the data directory and the output. */
export interface Context {
  command: string
  values: Record<string, string | boolean | string[] | undefined>
  positionals: string[]
  /** The data directory (`--data`, else $MICROGRID_DATA, else ~/.microgrid/node), absolute. */
  dataDir: string
  json: boolean
  io: CliIo
  /** Prints the command's result: one JSON document with --json, else the human lines. */
  result: (json: unknown, human: () => string[]) => void
  /** A line of progress or a warning (stderr; nothing with --json). */
  note: (line: string) => void
}

export const DEFAULT_DATA_DIR = '~/.microgrid/node'

export function expandHome (path: string): string {
  if (path === '~') return homedir()
  if (path.startsWith('~/')) return resolve(homedir(), path.slice(2))
  return resolve(path)
}

// ---------------------------------------------------------------------------------------------------
// Commands and their arguments

/** Options every command takes. */
export const COMMON_OPTIONS = {
  data: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' }
} as const satisfies ParseArgsOptionsConfig

export interface CommandSpec {
  /** `init`, `grid create`, … */
  name: string
  /** One line: what it does. */
  summary: string
  /** The usage lines, without "usage:". */
  usage: string[]
  /** Option lines for --help: [flag, description]. */
  help?: Array<[string, string]>
  options: ParseArgsOptionsConfig
  /** Positional arguments after the command's name: the least and the most. */
  args: [min: number, max: number]
  /** Loads the command's implementation (commands load only what they use). */
  load: () => Promise<(ctx: Context) => Promise<Running | undefined>>
}

/** Parses a command's arguments strictly: anything unknown or missing is a UsageError naming the command. */
export function parseCommand (spec: CommandSpec, args: string[]): { values: Context['values'], positionals: string[] } {
  let parsed
  try {
    parsed = parseArgs({ args, options: { ...COMMON_OPTIONS, ...spec.options }, allowPositionals: true, strict: true })
  } catch (err) {
    throw new UsageError((err as Error).message, spec.name)
  }
  const { values, positionals } = parsed
  if (values.help === true) return { values, positionals }
  const [min, max] = spec.args
  if (positionals.length > max) throw new UsageError(`unexpected argument: ${JSON.stringify(positionals[max])}`, spec.name)
  if (positionals.length < min) throw new UsageError(`${spec.name}: missing argument`, spec.name)
  return { values, positionals }
}

/** An option's text, or a UsageError saying it is required. */
export function required (ctx: Context, name: string, what: string): string {
  const v = ctx.values[name]
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} <${what}> is required`, ctx.command)
  return v
}

export function optional (ctx: Context, name: string): string | undefined {
  const v = ctx.values[name]
  return typeof v === 'string' ? v : undefined
}

export function flag (ctx: Context, name: string): boolean {
  return ctx.values[name] === true
}

export function list (ctx: Context, name: string): string[] {
  const v = ctx.values[name]
  return Array.isArray(v) ? v : []
}

/** A multiaddr argument (naming a peer with /p2p/ when `needsPeer`), or a UsageError. */
export function checkMultiaddr (text: string, what: string, command: string, needsPeer: boolean): string {
  try {
    const ma = multiaddr(text)
    if (needsPeer && ma.getComponents().find(c => c.name === 'p2p') === undefined) throw new Error('no /p2p/<peer id>')
  } catch (err) {
    throw new UsageError(`${what}: ${JSON.stringify(text)} is not a multiaddr${needsPeer ? ' naming a peer' : ''} (${(err as Error).message})`, command)
  }
  return text
}

// ---------------------------------------------------------------------------------------------------
// Units

/**
 * A decimal text as an integer count of 1/10^digits: "12.5" with 3 digits → 12500. Exact (no floating
 * point); a UsageError naming `what` for anything else, more decimals than allowed included.
 */
export function decimal (text: string, digits: number, what: string, command: string, options: { allowZero?: boolean } = {}): number {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text.trim())
  if (m === null) throw new UsageError(`${what}: expected a number such as 12 or 12.5, got ${JSON.stringify(text)}`, command)
  const frac = m[2] ?? ''
  if (frac.length > digits) {
    throw new UsageError(`${what}: at most ${digits} decimal${digits === 1 ? '' : 's'}, got ${JSON.stringify(text)}`, command)
  }
  const value = Number(m[1] as string) * 10 ** digits + Number(frac.padEnd(digits, '0') || '0')
  if (!Number.isSafeInteger(value)) throw new UsageError(`${what}: too large`, command)
  if (value === 0 && options.allowZero !== true) throw new UsageError(`${what}: must be more than 0`, command)
  return value
}

/** Checks a decimal's form only (its decimals are checked once the currency is known). */
export function decimalForm (text: string, what: string, command: string): void {
  if (!/^\d+(?:\.\d+)?$/.test(text.trim()) || !/[1-9]/.test(text)) {
    throw new UsageError(`${what}: expected an amount more than 0 such as 5 or 0.50, got ${JSON.stringify(text)}`, command)
  }
}

/** kWh as text → Wh (at most 3 decimals). */
export const kwhToWh = (text: string, what: string, command: string): number => decimal(text, 3, what, command)

/** Wh as kWh for people: "12.345 kWh". */
export function kwh (wh: number): string {
  return `${(wh / 1000).toFixed(3)} kWh`
}

/** Minor units as major units of the currency: "5.00 USD". */
export function money (minor: number, currency: { code: string, digits: number }): string {
  return `${(minor / 10 ** currency.digits).toFixed(currency.digits)} ${currency.code}`
}

/** A price in minor units per MWh, for people: "12.5 ¢/kWh" style in minor units of the currency per kWh. */
export function priceText (p: { minorPerMWh: number, dollarsPerKWh: number } | null, code: string): string {
  if (p === null) return 'not set'
  return `${p.dollarsPerKWh} ${code}/kWh (${p.minorPerMWh / 1000} minor/kWh)`
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** "5m", "90s", "1h", "1500ms", "1.5h" → ms; "0" alone is 0. */
export function duration (text: string, what: string, command: string): number {
  if (text.trim() === '0') return 0
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim())
  if (m === null) throw new UsageError(`${what}: expected a duration such as 90s, 5m, 1h or 1500ms, got ${JSON.stringify(text)}`, command)
  const ms = Number(m[1]) * (UNITS[m[2] as string] as number)
  if (!Number.isSafeInteger(ms)) throw new UsageError(`${what}: expected a whole number of milliseconds, got ${JSON.stringify(text)}`, command)
  return ms
}

/** "0-5,22,23" → [0,1,2,3,4,5,22,23]; "" or "none" → []. */
export function hours (text: string, what: string, command: string): number[] {
  const t = text.trim()
  if (t === '' || t === 'none') return []
  const set = new Set<number>()
  for (const part of t.split(',')) {
    const m = /^(\d{1,2})(?:-(\d{1,2}))?$/.exec(part.trim())
    const from = m === null ? Number.NaN : Number(m[1])
    const to = m === null ? Number.NaN : Number(m[2] ?? m[1])
    if (!(from >= 0 && to <= 23 && from <= to)) {
      throw new UsageError(`${what}: expected hours 0-23 and ranges such as 0-5,22,23, got ${JSON.stringify(part)}`, command)
    }
    for (let h = from; h <= to; h++) set.add(h)
  }
  return [...set].sort((a, b) => a - b)
}

/**
 * A point in time: an ISO-8601 date-time ("2026-01-01T18:00:00Z", local time without a zone), ms since
 * the epoch, "now", or "now+2h" / "+2h" (a duration from now).
 */
export function timeArg (text: string, what: string, command: string, now: number = Date.now()): number {
  const t = text.trim()
  if (t === 'now') return now
  const rel = /^(?:now)?\+(.+)$/.exec(t)
  if (rel !== null) return now + duration(rel[1] as string, what, command)
  if (/^\d{9,}$/.test(t)) return Number(t)
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(t)) {
    const ms = Date.parse(t.replace(' ', 'T'))
    if (Number.isSafeInteger(ms) && ms >= 0) return ms
  }
  throw new UsageError(`${what}: expected an ISO-8601 date-time (2026-01-01T18:00), ms since the epoch, now or +<duration> (+2h), got ${JSON.stringify(text)}`, command)
}

/** A time for people: local ISO-like "2026-01-01 18:00:00". */
export function when (ms: number): string {
  const d = new Date(ms)
  const p = (n: number): string => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
}

/** An account id shortened for tables: mg1qvv6t…j4tp9. */
export function short (id: string): string {
  return id.length > 18 ? `${id.slice(0, 9)}…${id.slice(-5)}` : id
}

/** Rows as aligned columns. */
export function table (rows: string[][]): string[] {
  const widths: number[] = []
  for (const r of rows) r.forEach((c, i) => { widths[i] = Math.max(widths[i] ?? 0, [...c].length) })
  return rows.map(r => r.map((c, i) => i === r.length - 1 ? c : c + ' '.repeat((widths[i] as number) - [...c].length)).join('  ').trimEnd())
}

/** Dials each peer (an invite or a multiaddr) in turn: the peer ids reached, and why the others failed. */
export async function dialPeers (node: { connect: (peer: string) => Promise<string> }, peers: readonly string[]): Promise<{ connected: string[], failed: Array<{ peer: string, error: string }> }> {
  const connected: string[] = []
  const failed: Array<{ peer: string, error: string }> = []
  for (const peer of peers) {
    try {
      connected.push(await node.connect(peer))
    } catch (err) {
      failed.push({ peer, error: (err as Error).message })
    }
  }
  return { connected, failed }
}
