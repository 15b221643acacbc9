#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
/**
 * `microgrid`: set up a household's node, run it, and drive it (docs/CLI.md).
 *
 *   microgrid init | keys list|add | grid create|export|join|show | start          (setup, run)
 *   microgrid status | peers | accounts | account | balance | history | devices      (read, through the API)
 *   microgrid buy | fund | price | register | pay | qr | export                      (act, through the API)
 *   microgrid node | genesis                                                         (the first commands, kept)
 *
 * Every command takes --data <dir>, --json and --help. Exit codes: 0 ok, 1 failed or refused, 2 usage
 * error, 3 node not running or unreachable. The commands live in cli/ and load only what they use.
 */
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import {
  CliError, COMMON_OPTIONS, DEFAULT_DATA_DIR, EXIT, UsageError, errorJson, exitCodeOf, expandHome, parseCommand, processIo,
  type CliIo, type CommandSpec, type Context, type Running
} from './cli/common.ts'
import { COMMANDS, GROUPS, NEEDS_DATA } from './cli/specs.ts'

export { CliError, NotRunningError, UsageError, EXIT, type CliIo, type Running } from './cli/common.ts'

const byName = new Map(COMMANDS.map(c => [c.name, c]))

/** The overview `microgrid --help` prints. */
export function usage (): string {
  const width = Math.max(...COMMANDS.map(c => c.name.length))
  return [
    'usage: microgrid <command> [options]          (microgrid <command> --help for its options)',
    '',
    ...COMMANDS.map(c => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'every command:',
    `  --data <dir>   the node's data directory (default $MICROGRID_DATA, else ${DEFAULT_DATA_DIR})`,
    '  --json         one JSON document on stdout; errors as JSON on stderr',
    '  --help, -h     this, or a command\'s own help',
    '',
    'exit codes: 0 ok, 1 failed or refused, 2 usage error, 3 node not running or unreachable',
    'passphrase: $MICROGRID_PASSPHRASE, else asked on the terminal'
  ].join('\n')
}

/** A command's usage lines (`usage: …`), or the overview. */
export function commandUsage (name: string | undefined): string {
  const spec = name === undefined ? undefined : byName.get(name)
  if (spec === undefined) {
    const group = COMMANDS.filter(c => c.name.startsWith(`${name ?? '\0'} `))
    if (group.length > 0) return ['usage:', ...group.flatMap(c => c.usage.map(u => `  ${u}`))].join('\n')
    return usage()
  }
  return ['usage:', ...spec.usage.map(u => `  ${u}`)].join('\n')
}

function commandHelp (spec: CommandSpec): string {
  const options: Array<[string, string]> = [
    ...(spec.help ?? []),
    ['--data <dir>', `data directory (default $MICROGRID_DATA, else ${DEFAULT_DATA_DIR})`],
    ['--json', 'one JSON document on stdout; errors as JSON on stderr'],
    ['--help', 'this help']
  ]
  const width = Math.min(32, Math.max(...options.map(([f]) => f.length)))
  return [
    `microgrid ${spec.name}: ${spec.summary}`,
    '',
    commandUsage(spec.name),
    '',
    'options:',
    ...options.map(([f, d]) => `  ${f.padEnd(width)}  ${d}`)
  ].join('\n')
}

/** Splits `[common options] <command> [<subcommand>] rest…` into the spec and its arguments. */
function findCommand (args: string[]): { spec: CommandSpec | undefined, name: string | undefined, rest: string[] } {
  // Common options may come before the command: `microgrid --data d --json status`.
  const before: string[] = []
  let i = 0
  while (i < args.length && (args[i] as string).startsWith('-')) {
    const a = args[i] as string
    before.push(a)
    i++
    const key = a.replace(/^--?/, '').split('=')[0] as string
    if (!a.includes('=') && key in COMMON_OPTIONS && (COMMON_OPTIONS as Record<string, { type: string }>)[key]?.type === 'string' && i < args.length) before.push(args[i++] as string)
  }
  const first = args[i]
  if (first === undefined) return { spec: undefined, name: undefined, rest: before }
  if (GROUPS.includes(first)) {
    const sub = args[i + 1]
    const spec = sub !== undefined && !sub.startsWith('-') ? byName.get(`${first} ${sub}`) : undefined
    if (spec !== undefined) return { spec, name: spec.name, rest: [...before, ...args.slice(i + 2)] }
    return { spec: undefined, name: first, rest: [...before, ...args.slice(i + 1)] }
  }
  return { spec: byName.get(first), name: first, rest: [...before, ...args.slice(i + 1)] }
}

/**
 * Runs one command. Resolves to what `start` and `node` leave running (the caller stops it on
 * SIGINT/SIGTERM), else undefined; throws CliError (UsageError, NotRunningError, …) on failure.
 * `out` receives stdout's lines; `io` replaces the process's stderr, environment and prompt.
 */
export async function main (args: string[], out: (line: string) => void, io: Partial<CliIo> = {}): Promise<Running | undefined> {
  const fullIo: CliIo = { ...processIo(), ...io, out }
  const { spec, name, rest } = findCommand(args)
  const wantsHelp = rest.includes('--help') || rest.includes('-h')
  if (spec === undefined) {
    if (name === undefined || name === 'help') {
      const topic = name === 'help' ? rest.filter(a => !a.startsWith('-')).join(' ') : ''
      const helped = byName.get(topic)
      if (name === undefined && !wantsHelp) throw new UsageError('a command is needed')
      out(helped !== undefined ? commandHelp(helped) : topic !== '' && GROUPS.includes(topic) ? commandUsage(topic) : usage())
      return undefined
    }
    if (GROUPS.includes(name)) {
      if (wantsHelp) { out(commandUsage(name)); return undefined }
      const sub = rest.find(a => !a.startsWith('-'))
      const err = new UsageError(sub === undefined ? `${name}: which? ${COMMANDS.filter(c => c.name.startsWith(name + ' ')).map(c => c.name.split(' ')[1]).join(', ')}` : `unknown command: ${name} ${sub}`)
      err.command = name
      throw err
    }
    throw new UsageError(`unknown command: ${name}`)
  }
  const { values, positionals } = parseCommand(spec, rest)
  if (values.help === true) {
    out(commandHelp(spec))
    return undefined
  }
  const given = typeof values.data === 'string' ? values.data : undefined
  if (NEEDS_DATA.has(spec.name) && given === undefined) {
    throw new UsageError('--data <dir> is required: where the node keeps its ledger and peer key', spec.name)
  }
  const json = values.json === true
  const ctx: Context = {
    command: spec.name,
    values,
    positionals,
    dataDir: expandHome(given ?? (fullIo.env.MICROGRID_DATA !== undefined && fullIo.env.MICROGRID_DATA !== '' ? fullIo.env.MICROGRID_DATA : DEFAULT_DATA_DIR)),
    json,
    io: fullIo,
    result: (doc, human) => {
      if (json) out(JSON.stringify(doc))
      else for (const line of human()) out(line)
    },
    note: line => { if (!json) fullIo.err(line) }
  }
  const run = await spec.load()
  return await run(ctx)
}

/** Prints an error as the command line does: a sentence (and the usage) or, with --json, a JSON document. */
export function reportError (err: unknown, args: string[], write: (line: string) => void): number {
  const code = exitCodeOf(err)
  const json = args.includes('--json')
  const usageText = err instanceof UsageError ? commandUsage(err.command) : undefined
  if (json) {
    const doc = errorJson(err)
    if (usageText !== undefined) doc.error.usage = usageText
    write(JSON.stringify(doc))
  } else {
    const apiCode = err instanceof CliError && typeof err.extra?.status === 'number' ? ` (${err.code})` : ''
    write(`microgrid: ${(err as Error)?.message ?? String(err)}${apiCode}`)
    if (usageText !== undefined) write(usageText)
  }
  return code
}

/**
 * Whether this file is the program node runs: directly, through the `microgrid` bin link, or as the
 * one-file build (`dist/microgrid.mjs`). A bundle of some other program that includes this module
 * (the desktop app, a benchmark) has its own name, and does not run the CLI.
 */
function invoked (): boolean {
  try {
    const program = realpathSync(process.argv[1] ?? '')
    return (import.meta.main === true || program === fileURLToPath(import.meta.url)) && /(?:cli\.ts|microgrid\.mjs)$/.test(program)
  } catch {
    return false
  }
}

if (invoked()) {
  // Output piped into `head` and closed early is not an error of ours.
  process.stdout.on('error', err => { if ((err as NodeJS.ErrnoException).code === 'EPIPE') process.exit(EXIT.ok); else throw err })
  const args = process.argv.slice(2)
  const print = (line: string): void => { process.stdout.write(line + '\n') }
  const fail = (err: unknown): void => {
    process.exitCode = reportError(err, args, line => { process.stderr.write(line + '\n') })
  }
  // The handlers go in before the command runs: a node prints its addresses before `main` returns
  // what it left running, and a SIGTERM in between must still stop it cleanly (with no listener the
  // signal would kill the process at once). A command that starts no node just ends on the signal.
  const startsNode = ['start', 'node'].includes(findCommand(args).name ?? '')
  let running: Running | undefined
  let signalled: string | undefined
  let done = false
  const codes: Record<string, number> = { SIGINT: 130, SIGTERM: 143 }
  const stop = (signal: string): void => {
    if (signalled !== undefined) { process.stderr.write(`microgrid: ${signal} again, exiting now\n`); process.exit(EXIT.failed) }
    signalled = signal
    if (running === undefined) {
      if (!startsNode || done) process.exit(codes[signal] ?? EXIT.failed)
      return // stopped as soon as it is running
    }
    if (!args.includes('--json')) process.stderr.write(`\nstopping  (${signal})\n`)
    running.stop().then(() => process.exit(EXIT.ok), err => { fail(new CliError(`stopping: ${(err as Error).message}`)); process.exit(EXIT.failed) })
  }
  process.on('SIGINT', () => { stop('SIGINT') })
  process.on('SIGTERM', () => { stop('SIGTERM') })
  main(args, print).then(result => {
    done = true
    if (result === undefined) {
      if (signalled !== undefined) process.exit(codes[signalled] ?? EXIT.failed)
      process.removeAllListeners('SIGINT').removeAllListeners('SIGTERM')
      return
    }
    running = result
    if (signalled !== undefined) { const signal = signalled; signalled = undefined; stop(signal) }
  }, err => {
    done = true
    fail(err)
    process.removeAllListeners('SIGINT').removeAllListeners('SIGTERM')
  })
}
