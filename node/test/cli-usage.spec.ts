/**
 * `microgrid` arguments: every command refuses bad arguments with exit code 2 and its usage (as JSON with
 * --json), answers --help with exit code 0, and client commands say the node is not running with exit
 * code 3. Run in-process (the same main and error reporting the command line uses), plus a few real
 * processes for the exit codes themselves.
 */
import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main, reportError } from '../src/cli.ts'
import { COMMANDS } from '../src/cli/specs.ts'

const cliPath = fileURLToPath(new URL('../src/cli.ts', import.meta.url))
const PASS = 'usage test passphrase'
let dir: string
let data: string
let resident: string

interface Outcome { code: number, out: string, err: string }

/** Runs the command in-process as the command line would: exit code, stdout, stderr. */
async function cli (args: string[]): Promise<Outcome> {
  const out: string[] = []
  const err: string[] = []
  try {
    const running = await main(args, l => out.push(l), { err: l => err.push(l), errRaw: t => err.push(t), errIsTTY: false })
    await running?.stop()
    return { code: 0, out: out.join('\n'), err: err.join('\n') }
  } catch (e) {
    const code = reportError(e, args, l => err.push(l))
    return { code, out: out.join('\n'), err: err.join('\n') }
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'microgrid-cli-usage-'))
  data = join(dir, 'node')
  process.env.MICROGRID_PASSPHRASE = PASS
  // Port 0: no fixed port, so with no run.json the node is certainly "not running".
  const r = await cli(['init', '--data', data, '--keys', 'resident,registrar', '--light-kdf', '--api-port', '0', '--no-mdns', '--json'])
  expect(r.code).toBe(0)
  resident = (JSON.parse(r.out) as { keys: Array<{ account: string }> }).keys[0]!.account
})
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

describe('microgrid: usage', () => {
  it('refuses an unknown option on every command with exit code 2 and that command\'s usage', async () => {
    for (const spec of COMMANDS) {
      const args = [...spec.name.split(' '), '--bogus', '--data', data]
      const r = await cli(args)
      expect(r.code, spec.name).toBe(2)
      expect(r.err, spec.name).toMatch(/Unknown option '--bogus'/)
      expect(r.err, spec.name).toContain(`usage:\n  microgrid ${spec.name}`)
      expect(r.out, spec.name).toBe('')
    }
  })

  it('with --json, a usage error is one JSON document on stderr', async () => {
    for (const spec of COMMANDS) {
      const r = await cli([...spec.name.split(' '), '--bogus', '--json', '--data', data])
      expect(r.code, spec.name).toBe(2)
      expect(r.out).toBe('')
      const doc = JSON.parse(r.err) as { error: { code: string, message: string, exitCode: number, usage: string } }
      expect(doc.error.code).toBe('usage')
      expect(doc.error.exitCode).toBe(2)
      expect(doc.error.message).toMatch(/--bogus/)
      expect(doc.error.usage).toContain(`microgrid ${spec.name}`)
    }
  })

  it('refuses missing and extra arguments on every command', async () => {
    for (const spec of COMMANDS) {
      const [min, max] = spec.args
      const extra = await cli([...spec.name.split(' '), ...Array.from({ length: max + 1 }, (_, i) => `arg${i}`), '--data', data])
      expect(extra.code, spec.name).toBe(2)
      expect(extra.err, spec.name).toMatch(/unexpected argument/)
      if (min > 0) {
        const missing = await cli([...spec.name.split(' '), '--data', data])
        expect(missing.code, spec.name).toBe(2)
        expect(missing.err, spec.name).toMatch(/missing argument/)
      }
    }
  })

  it('answers --help on every command with its usage and options, exit code 0', async () => {
    for (const spec of COMMANDS) {
      const r = await cli([...spec.name.split(' '), '--help'])
      expect(r.code, spec.name).toBe(0)
      expect(r.out, spec.name).toContain(`microgrid ${spec.name}: ${spec.summary}`)
      expect(r.out, spec.name).toContain('options:')
      expect(r.out, spec.name).toContain('--json')
    }
    const top = await cli(['--help'])
    expect(top.code).toBe(0)
    for (const spec of COMMANDS) expect(top.out).toContain(spec.name)
    expect(top.out).toMatch(/exit codes: 0 ok, 1 failed or refused, 2 usage error, 3 node not running/)
    expect((await cli(['help', 'grid', 'create'])).out).toContain('--friendly-credit-hours')
    expect((await cli(['grid', '--help'])).out).toContain('microgrid grid join')
  })

  it('refuses no command, unknown commands and groups without a subcommand', async () => {
    for (const args of [[], ['fly'], ['grid'], ['grid', 'fly'], ['keys'], ['--data', data]]) {
      const r = await cli(args)
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.err, args.join(' ')).toMatch(/usage/)
    }
    expect((await cli(['fly'])).err).toMatch(/unknown command: fly/)
    expect((await cli(['grid'])).err).toMatch(/grid: which\? create, export, join, show/)
  })

  it('refuses bad values with exit code 2, saying what is wrong, before anything changes', async () => {
    const config = await readFile(join(data, 'config.json'), 'utf8')
    const d = ['--data', data]
    const cases: Array<[string[], RegExp]> = [
      [['init', '--keys', 'wizard'], /unknown key role "wizard"/],
      [['init', '--keys', 'resident,resident'], /each role once/],
      [['init', '--api-port', '99999'], /--api-port: expected a port/],
      [['init', '--listen', 'not-a-multiaddr'], /--listen: "not-a-multiaddr" is not a multiaddr/],
      [['init', '--bootstrap', '/ip4/10.0.0.1/tcp/4101'], /--bootstrap: .* naming a peer/],
      [['keys', 'add', 'wizard'], /unknown key role "wizard"/],
      [['keys', 'add', 'producer', '--name', 'bad name!'], /--name: expected/],
      [['grid', 'create', '--currency', 'USD'], /--name <grid name> is required/],
      [['grid', 'create', '--name', 'Isla'], /--currency <ISO 4217 code> is required/],
      [['grid', 'create', '--name', 'Isla', '--currency', 'usd'], /ISO 4217/],
      [['grid', 'create', '--name', 'Isla', '--currency', 'USD', '--friendly-credit-hours', '22-25'], /--friendly-credit-hours: expected hours 0-23/],
      [['grid', 'create', '--name', 'Isla', '--currency', 'USD', '--beacon-interval', '5'], /--beacon-interval: expected a duration/],
      [['grid', 'create', '--name', 'Isla', '--currency', 'USD', '--beacon-interval', '500ms'], /at least 1s/],
      [['grid', 'create', '--name', 'Isla', '--currency', 'USD', '--mint-slack', 'soon'], /--mint-slack: expected a duration/],
      [['grid', 'create', '--name', 'Isla', '--currency', 'USD'], /--oracle <key name \| account id>: a grid needs a payment oracle/],
      [['grid', 'create', '--name', 'Isla', '--currency', 'USD', '--oracle', 'mg1nope'], /--oracle: /],
      [['grid', 'create', '--name', 'Isla', '--currency', 'USD', '--oracle', resident, '--registrar', resident], /one registrar must be a key of this node/],
      [['start', '--api-port', 'x'], /--api-port: expected a port/],
      [['start', '--peer', 'nonsense'], /--peer: invite: expected a multiaddr/],
      [['start', '--listen', '/nope'], /--listen: /],
      [['accounts', '--role', 'king'], /--role: expected one of/],
      [['account', 'mg1qqqq'], /account: /],
      [['balance', 'not an id'], /is not an account id/],
      [['history', '--limit', '0'], /--limit: expected 1 to 500/],
      [['history', '--limit', '501'], /--limit: expected 1 to 500/],
      [['buy', '--amount', '5'], /--seller <account id> is required/],
      [['buy', '--seller', resident], /--amount <dollars> is required/],
      [['buy', '--seller', resident, '--amount', 'five'], /--amount: expected an amount/],
      [['buy', '--seller', resident, '--amount', '0'], /--amount: expected an amount more than 0/],
      [['buy', '--seller', resident, '--amount', '1', '--as', 'nobody'], /--as: this node has no key named "nobody"/],
      [['fund', resident], /--kwh <kWh> is required/],
      [['fund', resident, '--kwh', '0.0001'], /--kwh: at most 3 decimals/],
      [['fund', resident, '--kwh', '-1'], /Option '--kwh' argument is ambiguous/],
      [['fund', resident, '--kwh=-1'], /--kwh: expected a number/],
      [['fund', resident, '--kwh', '1', '--from', 'now'], /--from needs --until/],
      [['fund', resident, '--kwh', '1', '--from', '+2h', '--until', '+1h'], /--until must be after --from/],
      [['fund', resident, '--kwh', '1', '--until', 'tomorrowish'], /--until: expected an ISO-8601 date-time/],
      [['fund', 'microgrid:garbage', '--kwh', '1'], /device: device link/],
      [['price', '--retail', 'cheap'], /--retail \(minor units per kWh\): expected a number/],
      [['price', '--wholesale', '8.0001'], /at most 3 decimals/],
      [['price', '--as', 'resident'], /--as applies when setting a price/],
      [['register', 'wizard', '--label', 'x'], /register what\? expected producer, device or utility/],
      [['register', 'device', '--meter', resident, '--label', 'Lamp', '--capacity', '5'], /--capacity does not apply to register device/],
      [['register', 'device', '--meter', resident], /--label <text> is required/],
      [['register', 'device', '--meter', resident, '--label', 'Lamp', '--category', 'castle'], /--category: expected one of/],
      [['register', 'device', '--meter', resident, '--label', 'Lamp', '--position=100,0'], /--position: expected <latitude>,<longitude>/],
      [['register', 'producer', '--account', resident, '--meter', resident, '--label', 'Roof'], /--capacity <W> is required/],
      [['register', 'producer', '--account', resident, '--meter', resident, '--label', 'Roof', '--capacity', '5kW'], /--capacity: expected the nameplate capacity/],
      [['register', 'utility', '--label', 'Co-op'], /--account <account id> is required/],
      [['pay', '--payee', resident, '--amount', '1'], /--payer <account id> is required/],
      [['pay', '--payer', resident, '--payee', resident, '--amount', '1', '--contract', 'barter'], /--contract: expected retail or wholesale/],
      [['devices', '--category', 'spaceship'], /--category: expected one of/],
      [['export', resident], /--csv <file> is required/],
      [['node'], /--data <dir> is required/],
      [['genesis', '--name', 'x', '--currency', 'USD', '--keys', join(dir, 'k')], /--out <file> is required/]
    ]
    for (const [args, message] of cases) {
      const r = await cli([...args, ...(args[0] === 'node' ? [] : d)])
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.err, args.join(' ')).toMatch(message)
      expect(r.err, args.join(' ')).toMatch(/usage:\n {2}microgrid /)
    }
    expect(await readFile(join(data, 'config.json'), 'utf8')).toBe(config)
  })

  it('client commands say the node is not running with exit code 3', async () => {
    const d = ['--data', data]
    const commands: string[][] = [
      ['status'], ['peers'], ['accounts'], ['account'], ['balance'], ['history', resident], ['devices'], ['price'], ['price', '--retail', '12.5'],
      ['buy', '--seller', resident, '--amount', '1'], ['fund', resident, '--kwh', '1'], ['register', 'device', '--meter', resident, '--label', 'Lamp'],
      ['pay', '--payer', resident, '--payee', resident, '--amount', '1'], ['qr', resident], ['export', resident, '--csv', join(dir, 'x.csv')]
    ]
    for (const args of commands) {
      const r = await cli([...args, ...d, '--json'])
      expect(r.code, args.join(' ')).toBe(3)
      const doc = JSON.parse(r.err) as { error: { code: string, message: string } }
      expect(doc.error.code).toBe('not-running')
      expect(doc.error.message).toMatch(/not running/)
    }
    // A directory that is not a node at all: exit code 1, saying to run init.
    const none = await cli(['balance', '--data', join(dir, 'nothing')])
    expect(none.code).toBe(1)
    expect(none.err).toMatch(/no node in .*nothing: run `microgrid init/)
  })

  it('the real command exits with those codes', () => {
    const run = (args: string[]): ReturnType<typeof spawnSync> => spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', cliPath, ...args], {
      encoding: 'utf8', env: { ...process.env, MICROGRID_PASSPHRASE: PASS }
    })
    const usage = run(['fund', '--data', data])
    expect(usage.status).toBe(2)
    expect(usage.stderr).toMatch(/missing argument[\s\S]*usage:\n {2}microgrid fund <device>/)
    const down = run(['status', '--data', data, '--json'])
    expect(down.status).toBe(3)
    expect(down.stdout).toBe('')
    expect((JSON.parse(down.stderr as string) as { error: { exitCode: number } }).error.exitCode).toBe(3)
    const help = run(['--help'])
    expect(help.status).toBe(0)
    expect(help.stdout).toMatch(/^usage: microgrid <command>/)
  })
})
