/**
 * The agent's config file: JSON, checked field by field. Relative paths are resolved from the file's
 * own directory, so a config and its key and genesis can move together.
 */
import { readFile } from 'node:fs/promises'
import { dirname, isAbsolute, resolve } from 'node:path'

export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

export type InputConfig =
  | { source: 'simulated', powerW?: number, trace?: string }
  | { source: 'gpio', line: string, chip?: string, minWidthMs: number, minIntervalMs: number, stuckMs: number }

export type RelayConfig = { driver: 'simulated' } | { driver: 'gpio', line: string, chip?: string, activeHigh: boolean }

export interface MeterConfig {
  /** A generation meter mints (contract generator); a consumption meter burns (contract consumer) and drives a relay. */
  role: 'generation' | 'consumption'
  /** The meter's secret key, hex, in a 0600 file (`microgrid-meter init` makes it). */
  keyFile: string
  /** The grid's genesis op (the file `microgrid genesis` wrote). */
  genesis: string
  /** Full nodes this meter trusts, as multiaddrs with /p2p/<peer id>; tried in order. */
  nodes: string[]
  /** Where the agent keeps its state file. */
  stateDir: string
  pulsesPerKwh: number
  /** Energy per signed op, Wh (default 1000: one op per kWh). */
  whPerOp: number
  /** Above this power (W) pulses are physically impossible for this meter: flagged, never counted. */
  maxPowerW: number
  input: InputConfig
  relay: RelayConfig | null
  policy: {
    timeZone?: string
    holidays: string[]
    lowBalanceWh: number[]
    loadLimitW: number | null
    loadGraceMs: number
    loadBackoffMs: number
  }
  timing: {
    /** How often the agent signs what it metered and talks to its nodes. */
    syncEveryMs: number
    /** How often a consumption meter asks for its funds. */
    fundsEveryMs: number
    /** The pulse counter is written at most this often (it is always written before an op is signed)... */
    saveEveryMs: number
    /** ...or after this many pulses, whichever comes first. */
    saveEveryPulses: number
  }
}

type Raw = Record<string, unknown>

function obj (value: unknown, field: string): Raw {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`${field}: expected an object`)
  return value as Raw
}

function str (value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new ConfigError(`${field}: expected a non-empty string`)
  return value
}

function num (value: unknown, field: string, min: number, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) throw new ConfigError(`${field}: expected a number ≥ ${min}`)
  return value
}

/** A whole number ≥ `min` (energy per op, pulses): the agent counts these in integers. */
function int (value: unknown, field: string, min: number, fallback?: number): number {
  const n = num(value, field, min, fallback)
  if (!Number.isSafeInteger(n)) throw new ConfigError(`${field}: expected a whole number ≥ ${min}, got ${n}`)
  return n
}

function known (raw: Raw, field: string, keys: readonly string[]): void {
  for (const k of Object.keys(raw)) if (!keys.includes(k)) throw new ConfigError(`${field}.${k}: no such setting (expected one of ${keys.join(', ')})`)
}

/** Checks a parsed config; `base` resolves relative paths. */
export function parseConfig (value: unknown, base: string): MeterConfig {
  const raw = obj(value, 'config')
  known(raw, 'config', ['role', 'keyFile', 'genesis', 'nodes', 'stateDir', 'pulsesPerKwh', 'whPerOp', 'maxPowerW', 'input', 'relay', 'policy', 'timing'])
  const path = (v: unknown, field: string): string => { const p = str(v, field); return isAbsolute(p) ? p : resolve(base, p) }
  const role = raw.role
  if (role !== 'generation' && role !== 'consumption') throw new ConfigError('config.role: expected "generation" or "consumption"')
  if (!Array.isArray(raw.nodes) || raw.nodes.length === 0) throw new ConfigError('config.nodes: expected a list of at least one multiaddr with /p2p/<peer id>')
  const nodes = raw.nodes.map((n, i) => {
    const s = str(n, `config.nodes[${i}]`)
    if (!s.startsWith('/') || !s.includes('/p2p/')) throw new ConfigError(`config.nodes[${i}]: expected a multiaddr with /p2p/<peer id>, got ${JSON.stringify(s)}`)
    return s
  })
  const input = obj(raw.input ?? { source: 'simulated' }, 'config.input')
  let inputConfig: InputConfig
  if (input.source === 'simulated') {
    known(input, 'config.input', ['source', 'powerW', 'trace'])
    inputConfig = { source: 'simulated', ...(input.powerW !== undefined ? { powerW: num(input.powerW, 'config.input.powerW', 0) } : {}), ...(input.trace !== undefined ? { trace: path(input.trace, 'config.input.trace') } : {}) }
  } else if (input.source === 'gpio') {
    known(input, 'config.input', ['source', 'line', 'chip', 'minWidthMs', 'minIntervalMs', 'stuckMs'])
    inputConfig = {
      source: 'gpio',
      line: str(input.line, 'config.input.line'),
      ...(input.chip !== undefined ? { chip: str(input.chip, 'config.input.chip') } : {}),
      minWidthMs: num(input.minWidthMs, 'config.input.minWidthMs', 0, 5),
      minIntervalMs: num(input.minIntervalMs, 'config.input.minIntervalMs', 0, 20),
      stuckMs: num(input.stuckMs, 'config.input.stuckMs', 1, 10_000)
    }
  } else {
    throw new ConfigError('config.input.source: expected "simulated" or "gpio"')
  }
  let relay: RelayConfig | null = null
  if (raw.relay !== undefined && raw.relay !== null) {
    const r = obj(raw.relay, 'config.relay')
    if (r.driver === 'simulated') relay = { driver: 'simulated' }
    else if (r.driver === 'gpio') {
      known(r, 'config.relay', ['driver', 'line', 'chip', 'activeHigh'])
      if (r.activeHigh !== undefined && typeof r.activeHigh !== 'boolean') throw new ConfigError('config.relay.activeHigh: expected true or false')
      relay = { driver: 'gpio', line: str(r.line, 'config.relay.line'), ...(r.chip !== undefined ? { chip: str(r.chip, 'config.relay.chip') } : {}), activeHigh: r.activeHigh !== false }
    } else throw new ConfigError('config.relay.driver: expected "simulated" or "gpio"')
  }
  const policy = obj(raw.policy ?? {}, 'config.policy')
  known(policy, 'config.policy', ['timeZone', 'holidays', 'lowBalanceWh', 'loadLimitW', 'loadGraceMs', 'loadBackoffMs'])
  const list = (v: unknown, field: string): unknown[] => { if (v === undefined) return []; if (!Array.isArray(v)) throw new ConfigError(`${field}: expected a list`); return v }
  const timing = obj(raw.timing ?? {}, 'config.timing')
  known(timing, 'config.timing', ['syncEveryMs', 'fundsEveryMs', 'saveEveryMs', 'saveEveryPulses'])
  return {
    role,
    keyFile: path(raw.keyFile, 'config.keyFile'),
    genesis: path(raw.genesis, 'config.genesis'),
    nodes,
    stateDir: path(raw.stateDir ?? '.', 'config.stateDir'),
    pulsesPerKwh: num(raw.pulsesPerKwh, 'config.pulsesPerKwh', 1),
    whPerOp: int(raw.whPerOp, 'config.whPerOp', 1, 1000),
    maxPowerW: num(raw.maxPowerW, 'config.maxPowerW', 1, 25_000),
    input: inputConfig,
    relay,
    policy: {
      ...(policy.timeZone !== undefined ? { timeZone: str(policy.timeZone, 'config.policy.timeZone') } : {}),
      holidays: list(policy.holidays, 'config.policy.holidays').map((h, i) => {
        const s = str(h, `config.policy.holidays[${i}]`)
        if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) throw new ConfigError(`config.policy.holidays[${i}]: expected a date YYYY-MM-DD`)
        return s
      }),
      lowBalanceWh: list(policy.lowBalanceWh, 'config.policy.lowBalanceWh').map((w, i) => num(w, `config.policy.lowBalanceWh[${i}]`, 0)),
      loadLimitW: policy.loadLimitW === undefined || policy.loadLimitW === null ? null : num(policy.loadLimitW, 'config.policy.loadLimitW', 1),
      loadGraceMs: num(policy.loadGraceMs, 'config.policy.loadGraceMs', 0, 10_000),
      loadBackoffMs: num(policy.loadBackoffMs, 'config.policy.loadBackoffMs', 0, 60_000)
    },
    timing: {
      syncEveryMs: num(timing.syncEveryMs, 'config.timing.syncEveryMs', 100, 10_000),
      fundsEveryMs: num(timing.fundsEveryMs, 'config.timing.fundsEveryMs', 100, 30_000),
      saveEveryMs: num(timing.saveEveryMs, 'config.timing.saveEveryMs', 0, 10_000),
      saveEveryPulses: int(timing.saveEveryPulses, 'config.timing.saveEveryPulses', 1, 10)
    }
  }
}

export async function loadConfig (file: string): Promise<MeterConfig> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new ConfigError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(`${file}: not JSON (${(err as Error).message})`)
  }
  return parseConfig(value, dirname(resolve(file)))
}
