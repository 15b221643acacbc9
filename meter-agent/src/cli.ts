#!/usr/bin/env node
/**
 * `microgrid-meter`: the meter agent's command.
 *
 *   microgrid-meter init --config <file> [--role generation|consumption] [--genesis <file>] [--node <multiaddr>]...
 *   microgrid-meter run --config <file>
 *   microgrid-meter status --config <file>
 */
import { access, readFile, writeFile } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { renderUnicodeCompact } from 'uqr'
import {
  accountId, decodeOp, deviceUri, fromHex, generateKeyPair, gridIdText, keySigner, OpDecodeError, publicKeyOf, toHex,
  type DecodedOp
} from '@microgrid/protocol'
import { MeterAgent } from './agent.ts'
import { ConfigError, loadConfig, type MeterConfig } from './config.ts'
import { gpioSource, simulatedSource } from './io/pulses.ts'
import { gpioRelay, simulatedRelay } from './io/relay.ts'
import { LightClient } from './light-client.ts'
import { StateStore } from './state-store.ts'

const USAGE = `usage:
  microgrid-meter init --config <file> [--role generation|consumption] [--genesis <file>] [--node <multiaddr>]...
  microgrid-meter run --config <file>
  microgrid-meter status --config <file>`

export class UsageError extends Error {
  override readonly name = 'UsageError'
}

const OPTIONS = {
  config: { type: 'string' },
  role: { type: 'string' },
  genesis: { type: 'string' },
  node: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' }
} as const

async function exists (path: string): Promise<boolean> {
  return await access(path).then(() => true, () => false)
}

async function readGenesis (path: string): Promise<DecodedOp> {
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (err) {
    throw new ConfigError(`genesis ${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  try {
    const genesis = decodeOp(bytes)
    if (genesis.op.kind !== 'genesis') throw new ConfigError(`genesis ${path}: a ${genesis.op.kind} op, not a genesis`)
    return genesis
  } catch (err) {
    if (err instanceof OpDecodeError) throw new ConfigError(`genesis ${path}: not a genesis op (${err.message})`)
    throw err
  }
}

async function readKey (path: string): Promise<Uint8Array> {
  let text: string
  try {
    text = (await readFile(path, 'utf8')).trim()
  } catch (err) {
    throw new ConfigError(`key ${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); run microgrid-meter init`)
  }
  if (!/^[0-9a-f]{64}$/i.test(text)) throw new ConfigError(`key ${path}: expected 64 hex digits (a secp256k1 secret key)`)
  return fromHex(text)
}

/** Makes the key (0600) and a config if they are missing, and prints the meter's id and QR label. */
async function init (file: string, values: { role?: string, genesis?: string, node?: string[] }, out: (line: string) => void): Promise<void> {
  const dir = dirname(resolve(file))
  if (!(await exists(file))) {
    if (values.role !== 'generation' && values.role !== 'consumption') throw new UsageError('init of a new config needs --role generation or --role consumption')
    if (values.genesis === undefined) throw new UsageError('init of a new config needs --genesis <file> (the grid\'s genesis)')
    const config = {
      role: values.role,
      keyFile: 'meter.key',
      genesis: relative(dir, resolve(values.genesis)),
      nodes: values.node ?? [],
      stateDir: 'state',
      pulsesPerKwh: 1000,
      whPerOp: 1000,
      maxPowerW: values.role === 'generation' ? 10_000 : 25_000,
      input: { source: 'gpio', line: 'GPIO17', minWidthMs: 5, minIntervalMs: 20, stuckMs: 10_000 },
      relay: values.role === 'consumption' ? { driver: 'gpio', line: 'GPIO27', activeHigh: true } : null,
      policy: { lowBalanceWh: [5000, 1000], loadLimitW: null, loadGraceMs: 10_000, loadBackoffMs: 60_000, holidays: [] },
      timing: { syncEveryMs: 10_000, fundsEveryMs: 30_000, saveEveryMs: 10_000, saveEveryPulses: 10 }
    }
    await writeFile(file, JSON.stringify(config, null, 2) + '\n', { flag: 'wx' })
    out(`wrote ${file} (edit input, relay and nodes to match the wiring)`)
  }
  const config = await loadConfig(file)
  if (!(await exists(config.keyFile))) {
    const { secretKey } = generateKeyPair()
    await writeFile(config.keyFile, toHex(secretKey) + '\n', { mode: 0o600, flag: 'wx' })
    out(`made the meter key ${config.keyFile} (0600)`)
  }
  const key = publicKeyOf(await readKey(config.keyFile))
  const genesis = await readGenesis(config.genesis)
  const label = config.role === 'consumption' ? deviceUri({ account: key, grid: genesis.id }) : accountId(key)
  out(`grid      ${gridIdText(genesis.id)}`)
  out(`meter id  ${accountId(key)}`)
  out(`role      ${config.role} (${config.role === 'consumption' ? 'register it as a consumer device: its meter key is the device account' : 'register it as the generation meter of its producer'})`)
  out(`label     ${label}`)
  out(renderUnicodeCompact(label, { border: 1 }))
}

async function status (config: MeterConfig, out: (line: string) => void): Promise<void> {
  const store = await StateStore.open(config.stateDir)
  const s = store.state
  const metered = Math.floor(s.pulses * 1000 / config.pulsesPerKwh)
  out(`state file   ${store.file}`)
  out(`metered      ${metered} Wh (${s.pulses} pulses)`)
  out(`signed       ${s.signedWh} Wh, applied ${s.appliedWh} Wh, dropped ${s.droppedWh} Wh`)
  out(`backlog      ${metered - s.signedWh} Wh to sign; ${s.unacked.length} signed op(s) not yet acknowledged`)
  out(`last op      ${s.last === null ? 'none' : `#${s.last.seq} total ${s.last.total} Wh`}`)
}

/** Runs a command; `run` resolves to the running agent (stopped on SIGINT/SIGTERM by the caller). */
export async function main (args: string[], out: (line: string) => void): Promise<MeterAgent | undefined> {
  let parsed
  try {
    parsed = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const { values, positionals } = parsed
  if (values.help === true) { out(USAGE); return undefined }
  const command = positionals[0]
  if (command === undefined) throw new UsageError('a command is needed')
  if (positionals.length > 1) throw new UsageError(`unexpected argument: ${positionals[1] as string}`)
  if (values.config === undefined) throw new UsageError(`${command} needs --config <file>`)
  if (command === 'init') { await init(values.config, values, out); return undefined }
  if (command !== 'run' && command !== 'status') throw new UsageError(`unknown command: ${command}`)
  const config = await loadConfig(values.config)
  if (command === 'status') { await status(config, out); return undefined }

  const genesis = await readGenesis(config.genesis)
  const signer = keySigner(await readKey(config.keyFile))
  const store = await StateStore.open(config.stateDir)
  const input = config.input
  const source = input.source === 'simulated'
    ? simulatedSource({ pulsesPerKwh: config.pulsesPerKwh, maxPowerW: config.maxPowerW, ...(input.trace !== undefined ? { trace: input.trace } : { powerW: input.powerW ?? 0 }) })
    : gpioSource({ line: input.line, ...(input.chip !== undefined ? { chip: input.chip } : {}), pulsesPerKwh: config.pulsesPerKwh, maxPowerW: config.maxPowerW, debounce: { minWidthMs: input.minWidthMs, minIntervalMs: input.minIntervalMs, stuckMs: input.stuckMs } })
  const relayConfig = config.relay
  const relay = relayConfig === null
    ? null
    : relayConfig.driver === 'simulated'
      ? simulatedRelay({ onChange: on => out(`relay     ${on ? 'on' : 'off'} (simulated)`) })
      : gpioRelay({ line: relayConfig.line, ...(relayConfig.chip !== undefined ? { chip: relayConfig.chip } : {}), activeHigh: relayConfig.activeHigh, onError: err => out(`relay     ${err.message}`) })
  const transport = await LightClient.start(config.nodes)
  const agent = new MeterAgent({
    role: config.role,
    signer,
    genesis,
    transport,
    source,
    relay,
    store,
    clock: { now: () => Date.now() },
    pulsesPerKwh: config.pulsesPerKwh,
    whPerOp: config.whPerOp,
    policy: {
      ...(config.policy.timeZone !== undefined ? { timeZone: config.policy.timeZone } : {}),
      holidays: config.policy.holidays,
      lowBalanceWh: config.policy.lowBalanceWh,
      loadLimitW: config.policy.loadLimitW,
      loadGraceMs: config.policy.loadGraceMs,
      loadBackoffMs: config.policy.loadBackoffMs
    },
    timing: config.timing,
    autoSync: true,
    log: line => out(`${new Date().toISOString()} ${line}`)
  })
  out(`meter     ${accountId(signer.publicKey)} (${config.role}) on grid ${gridIdText(genesis.id)}`)
  out(`state     ${join(config.stateDir, 'meter-state.json')}: ${store.state.pulses} pulses, last op ${store.state.last?.seq ?? 'none'}`)
  await agent.start()
  return agent
}

// Run as a command: this file (src/cli.ts) or the bundle `npm run build` makes (dist/microgrid-meter.mjs).
if (import.meta.main === true || /(?:cli\.ts|microgrid-meter(?:\.mjs)?)$/.test(process.argv[1] ?? '')) {
  process.stdout.on('error', err => { if ((err as NodeJS.ErrnoException).code === 'EPIPE') process.exit(0); else throw err })
  const print = (line: string): void => { process.stdout.write(line + '\n') }
  main(process.argv.slice(2), print).then(agent => {
    if (agent === undefined) return
    const stop = (): void => { void agent.stop().then(() => process.exit(0), () => process.exit(1)) }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  }, err => {
    process.stderr.write(`microgrid-meter: ${(err as Error).message}\n`)
    if (err instanceof UsageError) process.stderr.write(USAGE + '\n')
    process.exit(err instanceof UsageError ? 2 : 1)
  })
}
