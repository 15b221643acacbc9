/**
 * Every `microgrid` command: its name, usage, options, and where its implementation lives (loaded only
 * when the command runs, so a client command does not load libp2p). docs/CLI.md documents the same.
 */
import { access } from 'node:fs/promises'
import { join } from 'node:path'
import type { CommandSpec, Context, Running } from './common.ts'

const str = { type: 'string' } as const
const strs = { type: 'string', multiple: true } as const
const bool = { type: 'boolean' } as const

async function exists (path: string): Promise<boolean> {
  return await access(path).then(() => true, () => false)
}

/** `status`: the API of the running node; the ledger file with --offline or in a data directory `node` made (no config.json). */
async function statusCommand (ctx: Context): Promise<Running | undefined> {
  const offline = ctx.values.offline === true || (!(await exists(join(ctx.dataDir, 'config.json'))) && await exists(join(ctx.dataDir, 'ledger.sqlite')))
  if (offline) return await (await import('./legacy.ts')).offlineStatus(ctx)
  return await (await import('./commands.ts')).status(ctx)
}

export const COMMANDS: CommandSpec[] = [
  {
    name: 'init',
    summary: 'make a data directory: encrypted keys, the node identity, config.json',
    usage: ['microgrid init [--keys <role>[,<role>]...] [--light-kdf] [--api-port <port>] [--api-host <address>] [--lan]',
      '               [--listen <multiaddr>]... [--bootstrap <multiaddr>]... [--no-mdns]'],
    help: [
      ['--keys <roles>', 'the keys to make, by role: resident, utility, producer, registrar, oracle (default resident)'],
      ['--light-kdf', 'lighter scrypt (n = 2^14) for a Raspberry Pi; default the standard n = 2^18'],
      ['--api-port <port>', 'the HTTP API\'s port (default 4100; 0: a free one at each start)'],
      ['--api-host <address>', 'the address the API binds (default 127.0.0.1, or 0.0.0.0 with --lan)'],
      ['--lan', 'serve the API to the LAN (residents\' phones), with the same token'],
      ['--listen <multiaddr>', 'libp2p listen address, repeatable (default /ip4/0.0.0.0/tcp/4101)'],
      ['--bootstrap <multiaddr>', 'a peer to dial at every start (with /p2p/<peer id>), repeatable'],
      ['--no-mdns', 'do not look for neighbours on the LAN']
    ],
    options: { keys: str, 'light-kdf': bool, 'api-port': str, 'api-host': str, lan: bool, listen: strs, bootstrap: strs, 'no-mdns': bool },
    args: [0, 0],
    load: async () => (await import('./setup.ts')).init
  },
  {
    name: 'keys list',
    summary: 'the node\'s keys: name, role, account',
    usage: ['microgrid keys list'],
    options: {},
    args: [0, 0],
    load: async () => (await import('./setup.ts')).keysList
  },
  {
    name: 'keys add',
    summary: 'make another key (same passphrase as the others)',
    usage: ['microgrid keys add <role> [--name <name>] [--light-kdf]'],
    help: [['<role>', 'resident, utility, producer, registrar or oracle'], ['--name <name>', 'its name in the key ring and in the API\'s "as" (default the role)']],
    options: { name: str, 'light-kdf': bool },
    args: [1, 1],
    load: async () => (await import('./setup.ts')).keysAdd
  },
  {
    name: 'grid create',
    summary: 'write a new grid\'s genesis (protocol v2), signed by the registrar key',
    usage: ['microgrid grid create --name <name> --currency <ISO 4217> [--registrar <key | account>]... [--oracle <key | account>]...',
      '                      [--friendly-credit-hours <hours>] [--beacon-interval <duration>] [--mint-slack <duration>]'],
    help: [
      ['--name <name>', 'the grid\'s name (at most 128 bytes)'],
      ['--currency <code>', 'the fiat currency of payments and prices, e.g. USD'],
      ['--registrar <key | account>', 'a registrar: a key name of this node or an account id, repeatable; one must be a key of this node (it signs). Default the registrar key'],
      ['--oracle <key | account>', 'a payment oracle, repeatable. Default the oracle key'],
      ['--friendly-credit-hours <hours>', 'hours (0-23, local time) meters keep power on at zero balance: 0-5,22,23 (default none)'],
      ['--beacon-interval <duration>', 'how often authorities publish time beacons (default 5m, at least 1s)'],
      ['--mint-slack <duration>', 'how far past the latest beacon a mint may claim time (default 15m)']
    ],
    options: { name: str, currency: str, registrar: strs, oracle: strs, 'friendly-credit-hours': str, 'beacon-interval': str, 'mint-slack': str },
    args: [0, 0],
    load: async () => (await import('./setup.ts')).gridCreate
  },
  {
    name: 'grid export',
    summary: 'the grid\'s genesis as a file, or as a microgrid:grid link (and QR code) to join it',
    usage: ['microgrid grid export [--out <file>] [--qr]'],
    help: [['--out <file>', 'write the genesis op (binary) to a file'], ['--qr', 'show the link as a QR code in the terminal']],
    options: { out: str, qr: bool },
    args: [0, 0],
    load: async () => (await import('./setup.ts')).gridExport
  },
  {
    name: 'grid join',
    summary: 'take a grid\'s genesis from a file or a link',
    usage: ['microgrid grid join <genesis file | microgrid:grid link>'],
    options: {},
    args: [1, 1],
    load: async () => (await import('./setup.ts')).gridJoin
  },
  {
    name: 'grid show',
    summary: 'the grid: name, currency, registrars, oracles, policy',
    usage: ['microgrid grid show'],
    options: {},
    args: [0, 0],
    load: async () => (await import('./setup.ts')).gridShow
  },
  {
    name: 'start',
    summary: 'run the node, its HTTP API and the services its keys call for, until Ctrl-C',
    usage: ['microgrid start [--peer <invite | multiaddr>]... [--bootstrap <multiaddr>]... [--listen <multiaddr>]...',
      '                [--api-port <port>] [--api-host <address>] [--lan] [--ui <dir>] [--no-mdns] [--relay] [--webrtc] [--qr]',
      '                [--verify-threads <n>]'],
    help: [
      ['--peer <invite | multiaddr>', 'dial a peer now (a microgrid:invite link or a multiaddr), repeatable'],
      ['--bootstrap <multiaddr>', 'more bootstrap peers for this run, repeatable'],
      ['--listen <multiaddr>', 'listen here instead of the config\'s addresses, repeatable'],
      ['--api-port, --api-host, --lan', 'override the config\'s API settings for this run'],
      ['--ui <dir>', 'serve the built UI from this directory at the API\'s URL (default the config\'s api.ui)'],
      ['--no-mdns', 'no LAN discovery this run'],
      ['--relay, --webrtc', 'offer circuit relay; dial and accept WebRTC'],
      ['--qr', 'show the invite as a QR code, and in LAN mode with a UI the first phone link'],
      ['--verify-threads <n>', 'check signatures in n worker threads while syncing (default 0: inline)']
    ],
    options: { peer: strs, bootstrap: strs, listen: strs, 'api-port': str, 'api-host': str, lan: bool, ui: str, 'no-mdns': bool, relay: bool, webrtc: bool, qr: bool, 'verify-threads': str },
    args: [0, 0],
    load: async () => (await import('./start.ts')).start
  },
  {
    name: 'status',
    summary: 'the node: grid, peers, ops, sync, supply, forks, state hash, keys',
    usage: ['microgrid status [--offline]'],
    help: [['--offline', 'read the ledger file of a stopped node instead of asking the running one']],
    options: { offline: bool },
    args: [0, 0],
    load: async () => statusCommand
  },
  {
    name: 'peers',
    summary: 'the peers the node is connected to',
    usage: ['microgrid peers'],
    options: {},
    args: [0, 0],
    load: async () => (await import('./commands.ts')).peers
  },
  {
    name: 'accounts',
    summary: 'every account the ledger knows, with role and balance',
    usage: ['microgrid accounts [--role <role>]'],
    help: [['--role <role>', 'registrar, oracle, utility, producer, generation-meter, consumer or resident']],
    options: { role: str },
    args: [0, 0],
    load: async () => (await import('./commands.ts')).accounts
  },
  {
    name: 'account',
    summary: 'one account: role, balance, registration, prices, meter',
    usage: ['microgrid account [<account>]'],
    help: [['<account>', 'an account id (mg1…), a device link, or a key name of this node; default the resident key']],
    options: {},
    args: [0, 1],
    load: async () => (await import('./commands.ts')).account
  },
  {
    name: 'balance',
    summary: 'an account\'s balance',
    usage: ['microgrid balance [<account>]'],
    options: {},
    args: [0, 1],
    load: async () => (await import('./commands.ts')).balance
  },
  {
    name: 'history',
    summary: 'an account\'s history, newest first',
    usage: ['microgrid history [<account>] [--limit <1-500>] [--before <cursor>]'],
    help: [['--limit <n>', 'entries per page (default 50)'], ['--before <cursor>', 'the page after this cursor (printed as "more: --before …")']],
    options: { limit: str, before: str },
    args: [0, 1],
    load: async () => (await import('./commands.ts')).history
  },
  {
    name: 'buy',
    summary: 'buy units: a simulated fiat payment from this node\'s key to a seller',
    usage: ['microgrid buy --seller <account> --amount <dollars> [--wholesale] [--as <key>] [--payment-id <id>]'],
    help: [
      ['--seller <account>', 'a registered utility or producer'],
      ['--amount <dollars>', 'in major units of the grid\'s currency (5, 0.50)'],
      ['--wholesale', 'a utility buying from a producer (default: retail)'],
      ['--as <key>', 'the key that pays (default the resident key; the utility key for wholesale)'],
      ['--payment-id <id>', 'the payment\'s id: the same id is receipted once (default a new one)']
    ],
    options: { seller: str, amount: str, wholesale: bool, as: str, 'payment-id': str },
    args: [0, 0],
    load: async () => (await import('./commands.ts')).buy
  },
  {
    name: 'fund',
    summary: 'give units to a consumer device, optionally for a window',
    usage: ['microgrid fund <device> --kwh <n> [--from <time> --until <time>] [--as <key>]'],
    help: [
      ['<device>', 'the device\'s account id or its QR link'],
      ['--kwh <n>', 'kWh to give (up to 3 decimals)'],
      ['--from <time>, --until <time>', 'a funding window: ISO-8601 (2026-01-01T18:00), ms since the epoch, now, +2h. --until alone: from now'],
      ['--as <key>', 'the key that gives (default the resident key)']
    ],
    options: { kwh: str, from: str, until: str, as: str },
    args: [1, 1],
    load: async () => (await import('./commands.ts')).fund
  },
  {
    name: 'price',
    summary: 'show every seller\'s prices, or set this node\'s producer\'s or utility\'s',
    usage: ['microgrid price [--wholesale <¢/kWh>] [--retail <¢/kWh>] [--as <key>]'],
    help: [
      ['--wholesale <n>, --retail <n>', 'minor units of the currency (cents for USD) per kWh, up to 3 decimals; without either: list prices'],
      ['--as <key>', 'the producer or utility key (when the node holds both)']
    ],
    options: { wholesale: str, retail: str, as: str },
    args: [0, 0],
    load: async () => (await import('./commands.ts')).price
  },
  {
    name: 'register',
    summary: 'a registrar registers a producer, a consumer device or a utility',
    usage: [
      'microgrid register producer --account <account> --meter <account> --capacity <W> --label <text> [--as <key>]',
      'microgrid register device --meter <account> --label <text> [--category <category>] [--position=<lat>,<lon>] [--as <key>]',
      'microgrid register utility --account <account> --label <text> [--as <key>]'
    ],
    help: [
      ['--account <account>', 'the producer\'s or utility\'s account (an id or a key name of this node)'],
      ['--meter <account>', 'the meter\'s key: a producer\'s generation meter, or the device itself'],
      ['--capacity <W>', 'the producer\'s nameplate capacity in W'],
      ['--label <text>', '1-128 bytes'],
      ['--category <category>', 'household (default), street-light, stadium, public, business, other'],
      ['--position=<lat>,<lon>', 'where the device is, in degrees (the = keeps a negative number from reading as an option)'],
      ['--as <key>', 'the registrar key (default the registrar key)']
    ],
    options: { account: str, meter: str, capacity: str, label: str, category: str, position: str, as: str },
    args: [1, 1],
    load: async () => (await import('./commands.ts')).register
  },
  {
    name: 'pay',
    summary: 'a simulated fiat payment, receipted by the grid\'s payment oracle',
    usage: ['microgrid pay --payer <account> --payee <account> --amount <dollars> [--contract retail|wholesale] [--payment-id <id>]'],
    help: [
      ['--payer <account>', 'who pays: a resident (retail) or a utility (wholesale)'],
      ['--payee <account>', 'the seller: a utility or producer (retail), a producer (wholesale)'],
      ['--amount <dollars>', 'in major units of the grid\'s currency'],
      ['--contract <c>', 'retail (default) or wholesale (also retail-seller, wholesale-seller)'],
      ['--payment-id <id>', 'receipted once however often it is sent (default a new one)']
    ],
    options: { payer: str, payee: str, amount: str, contract: str, 'payment-id': str },
    args: [0, 0],
    load: async () => (await import('./commands.ts')).pay
  },
  {
    name: 'devices',
    summary: 'registered consumer devices: funds, relay, days remaining',
    usage: ['microgrid devices [--category <category>]'],
    options: { category: str },
    args: [0, 0],
    load: async () => (await import('./commands.ts')).devices
  },
  {
    name: 'qr',
    summary: 'a device\'s QR label, in the terminal or as SVG',
    usage: ['microgrid qr <device> [--svg <file>]'],
    help: [['--svg <file>', 'write the QR code as an SVG file instead']],
    options: { svg: str },
    args: [1, 1],
    load: async () => (await import('./commands.ts')).qr
  },
  {
    name: 'export',
    summary: 'an account\'s whole history as CSV',
    usage: ['microgrid export <account> --csv <file>'],
    options: { csv: str },
    args: [1, 1],
    load: async () => (await import('./commands.ts')).exportCsv
  },
  {
    name: 'node',
    summary: 'run a bare node (no API, no services) on a data directory — the first command, kept',
    usage: ['microgrid node --data <dir> [--genesis <file>] [--listen <multiaddr>]... [--peer <multiaddr|invite>]...',
      '               [--bootstrap <multiaddr>]... [--no-mdns] [--relay] [--webrtc]'],
    options: { genesis: str, listen: strs, peer: strs, bootstrap: strs, 'no-mdns': bool, relay: bool, webrtc: bool },
    args: [0, 0],
    load: async () => (await import('./legacy.ts')).nodeCommand
  },
  {
    name: 'genesis',
    summary: 'write a genesis with a registrar and an oracle key in a key ring of their own — the first command, kept',
    usage: ['microgrid genesis --name <grid name> --currency <ISO 4217> --keys <dir> --out <file> [--light-kdf]'],
    options: { name: str, currency: str, keys: str, out: str, 'light-kdf': bool },
    args: [0, 0],
    load: async () => (await import('./legacy.ts')).genesisCommand
  }
]

/** Command groups: `microgrid grid …`, `microgrid keys …`. */
export const GROUPS = ['grid', 'keys']

/** Commands that need --data given explicitly (the first ones did). */
export const NEEDS_DATA = new Set(['node'])
