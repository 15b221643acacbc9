/**
 * Commands that set a node up, offline: `init` (data directory, key ring, identity, config), `keys`
 * (list, add) and `grid` (create, export, join, show).
 */
import { randomBytes } from 'node:crypto'
import { access, mkdir, readFile, writeFile } from 'node:fs/promises'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { renderUnicodeCompact } from 'uqr'
import {
  MIN_BEACON_INTERVAL_MS, PROTOCOL_VERSION, accountId, compareBytes, gridIdText, parseAccountId, policyOf, signOp,
  type DecodedOp, type GenesisBody, type PublicKey, type UnsignedOp
} from '@microgrid/protocol'
import { loadOrCreatePeerKey } from '../identity.ts'
import { KeyRing } from '../keys.ts'
import { LIGHT_SCRYPT, STANDARD_SCRYPT, writeFileAtomic } from '../keystore.ts'
import {
  CliError, UsageError, checkMultiaddr, duration, flag, hours, list, optional, required, type Context
} from './common.ts'
import {
  DEFAULT_API_PORT, DEFAULT_LISTEN, KEY_ROLES, decodeGenesis, keyOfRole, passphrase, passphraseError, paths, readConfig, readGenesis,
  requireGenesis, unlockKeys, writeConfig, type KeyConfig, type KeyRole, type NodeConfig
} from './datadir.ts'

async function exists (path: string): Promise<boolean> {
  return await access(path).then(() => true, () => false)
}

function roleOf (text: string, command: string): KeyRole {
  const role = text.trim()
  if (!(KEY_ROLES as readonly string[]).includes(role)) {
    throw new UsageError(`unknown key role ${JSON.stringify(role)}: expected ${KEY_ROLES.join(', ')}`, command)
  }
  return role as KeyRole
}

function port (text: string, what: string, command: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new UsageError(`${what}: expected a port 0-65535, got ${JSON.stringify(text)}`, command)
  return Number(text)
}

const kdfOf = (ctx: Context): typeof STANDARD_SCRYPT => flag(ctx, 'light-kdf') ? LIGHT_SCRYPT : STANDARD_SCRYPT

// ---------------------------------------------------------------------------------------------------
// init

export async function init (ctx: Context): Promise<undefined> {
  const dir = ctx.dataDir
  const p = paths(dir)
  const roles = (optional(ctx, 'keys') ?? 'resident').split(',').filter(s => s.trim() !== '').map(r => roleOf(r, ctx.command))
  if (roles.length === 0) throw new UsageError('--keys: name at least one role', ctx.command)
  if (new Set(roles).size !== roles.length) throw new UsageError('--keys: each role once (add more keys of a role later with `microgrid keys add <role> --name <name>`)', ctx.command)
  const lan = flag(ctx, 'lan')
  const apiPort = port(optional(ctx, 'api-port') ?? String(DEFAULT_API_PORT), '--api-port', ctx.command)
  const apiHost = optional(ctx, 'api-host') ?? (lan ? '0.0.0.0' : '127.0.0.1')
  const listen = list(ctx, 'listen').map(a => checkMultiaddr(a, '--listen', ctx.command, false))
  const bootstrap = list(ctx, 'bootstrap').map(a => checkMultiaddr(a, '--bootstrap', ctx.command, true))
  if (await exists(p.config)) {
    throw new CliError(`${dir} is already initialised (${p.config} exists); nothing was changed`, { code: 'already-initialised' })
  }
  const pass = await passphrase(ctx, true)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const ring = await KeyRing.open(p.keys)
  const keys: KeyConfig[] = []
  for (const role of roles) {
    // A key made by an init that was interrupted before config.json: unlocked (the same passphrase), kept.
    if (ring.get(role) !== undefined) await ring.unlock(role, pass).then(k => k.fill(0), err => { throw passphraseError(err) })
    const entry = ring.get(role) ?? await ring.create(role, pass, { kdf: kdfOf(ctx) })
    keys.push({ name: entry.name, role, account: entry.account })
  }
  const peerId = peerIdFromPrivateKey(await loadOrCreatePeerKey(p.peerKey)).toString()
  const config: NodeConfig = {
    version: 1,
    api: { host: apiHost, port: apiPort, lan, token: randomBytes(32).toString('base64url') },
    listen: listen.length > 0 ? listen : DEFAULT_LISTEN,
    bootstrap,
    mdns: !flag(ctx, 'no-mdns'),
    keys
  }
  await writeConfig(dir, config)
  const kdf = flag(ctx, 'light-kdf') ? 'light' : 'standard'
  ctx.result({
    dataDir: dir, config: p.config, peerId, keys, api: { host: apiHost, port: apiPort, lan }, listen: config.listen, bootstrap, mdns: config.mdns, kdf
  }, () => [
    `data      ${dir}`,
    `peer id   ${peerId}`,
    ...keys.map(k => `key       ${k.name.padEnd(10)} ${k.account} (${k.role})`),
    `keystore  ${p.keys} (Web3 Secret Storage v3, scrypt ${kdf})`,
    `api       ${apiPort === 0 ? `${apiHost}, a free port at each start` : `http://${apiHost}:${apiPort}`} (token in ${p.config})`,
    `next      microgrid grid create --data ${dir} --name <name> --currency <code>   (a new grid)`,
    `     or   microgrid grid join --data ${dir} <file | link>                  (an existing one)`
  ])
  return undefined
}

// ---------------------------------------------------------------------------------------------------
// keys

export async function keysList (ctx: Context): Promise<undefined> {
  const config = await readConfig(ctx.dataDir)
  const ring = await KeyRing.open(paths(ctx.dataDir).keys)
  const keys = config.keys.map(k => ({ ...k, file: ring.path(k.name) }))
  ctx.result({ keys }, () => keys.length === 0 ? ['no keys'] : keys.map(k => `${k.name.padEnd(12)} ${k.role.padEnd(10)} ${k.account}`))
  return undefined
}

export async function keysAdd (ctx: Context): Promise<undefined> {
  const role = roleOf(ctx.positionals[0] as string, ctx.command)
  const name = optional(ctx, 'name') ?? role
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(name) || name === 'keys') {
    throw new UsageError(`--name: expected 1 to 64 letters, digits, "-" or "_", got ${JSON.stringify(name)}`, ctx.command)
  }
  const config = await readConfig(ctx.dataDir)
  if (config.keys.some(k => k.name === name)) throw new CliError(`this node already holds a key named "${name}"; nothing was changed`, { code: 'key-exists' })
  const ring = await KeyRing.open(paths(ctx.dataDir).keys)
  // One passphrase for all of a node's keys: `start` unlocks them together.
  const pass = await passphrase(ctx, config.keys.length === 0)
  if (config.keys.length > 0) await unlockKeys(ctx.dataDir, { ...config, keys: [config.keys[0] as KeyConfig] }, pass)
  const entry = await ring.create(name, pass, { kdf: kdfOf(ctx) }).catch((err: unknown) => { throw passphraseError(err) })
  const key: KeyConfig = { name, role, account: entry.account }
  await writeConfig(ctx.dataDir, { ...config, keys: [...config.keys, key] })
  ctx.result({ key }, () => [`key       ${name.padEnd(10)} ${entry.account} (${role})`, 'restart the node to use it'])
  return undefined
}

// ---------------------------------------------------------------------------------------------------
// grid

export const GRID_LINK_PREFIX = 'microgrid:grid?'

/** The grid as a link: `microgrid:grid?id=<grid id>&genesis=<genesis op, base64url>`. */
export function gridLink (genesis: { bytes: Uint8Array, op: DecodedOp }): string {
  return `${GRID_LINK_PREFIX}id=${gridIdText(genesis.op.id)}&genesis=${Buffer.from(genesis.bytes).toString('base64url')}`
}

/** Reads a grid link; the id it names must be its genesis's. */
export function parseGridLink (text: string): { bytes: Uint8Array, op: DecodedOp } {
  const m = /^(?:web\+)?microgrid:grid\?(.*)$/is.exec(text.trim())
  if (m === null) throw new CliError(`not a grid link: expected "${GRID_LINK_PREFIX}id=…&genesis=…"`, { code: 'bad-genesis' })
  const params = new URLSearchParams(m[1])
  const b64 = params.get('genesis')
  if (b64 === null || !/^[A-Za-z0-9_-]+$/.test(b64)) throw new CliError('grid link: no genesis=<base64url> in it', { code: 'bad-genesis' })
  const bytes = new Uint8Array(Buffer.from(b64, 'base64url'))
  const op = decodeGenesis(bytes, 'grid link')
  const id = params.get('id')
  if (id !== null && id.toLowerCase() !== gridIdText(op.id)) {
    throw new CliError(`grid link: it says grid ${id} but its genesis is grid ${gridIdText(op.id)} (a damaged or altered link)`, { code: 'bad-genesis' })
  }
  return { bytes, op }
}

/** What the commands print about a genesis. */
function describe (g: DecodedOp, file: string): { json: Record<string, unknown>, human: string[] } {
  const body = g.op.body as GenesisBody
  const policy = policyOf(body)
  const json = {
    grid: gridIdText(g.id),
    name: body.name,
    currency: body.currency,
    version: g.op.v,
    registrars: body.registrars.map(accountId),
    oracles: body.oracles.map(accountId),
    policy,
    createdAt: g.op.ts,
    file
  }
  const ms = (v: number): string => v % 3_600_000 === 0 ? `${v / 3_600_000}h` : v % 60_000 === 0 ? `${v / 60_000}m` : v % 1000 === 0 ? `${v / 1000}s` : `${v}ms`
  const human = [
    `grid      ${json.grid}`,
    `name      ${body.name} (${body.currency})`,
    ...json.registrars.map(a => `registrar ${a}`),
    ...json.oracles.map(a => `oracle    ${a}`),
    `policy    friendly-credit hours ${policy.friendlyCreditHours.length === 0 ? 'none' : policy.friendlyCreditHours.join(',')}; beacons every ${ms(policy.beaconIntervalMs)}; mint slack ${ms(policy.mintSlackMs)}`,
    `genesis   ${file}`
  ]
  return { json, human }
}

/** `--registrar` / `--oracle` values: a key name of this node, or an account id. */
function keysFrom (values: string[], config: NodeConfig, what: string, command: string): Array<{ key: PublicKey, local?: KeyConfig }> {
  return values.map(v => {
    const local = config.keys.find(k => k.name === v)
    if (local !== undefined) return { key: parseAccountId(local.account), local }
    if (/^mg1/i.test(v)) {
      try {
        return { key: parseAccountId(v.toLowerCase()) }
      } catch (err) {
        throw new UsageError(`${what}: ${(err as Error).message}`, command)
      }
    }
    throw new UsageError(`${what}: ${JSON.stringify(v)} is neither a key of this node (${config.keys.map(k => k.name).join(', ') || 'none'}) nor an account id (mg1…)`, command)
  })
}

function sortedUnique (keys: PublicKey[]): PublicKey[] {
  const sorted = [...keys].sort(compareBytes)
  return sorted.filter((k, i) => i === 0 || compareBytes(sorted[i - 1] as PublicKey, k) !== 0)
}

export async function gridCreate (ctx: Context): Promise<undefined> {
  const name = required(ctx, 'name', 'grid name')
  if (Buffer.byteLength(name) > 128 || /\p{Cc}/u.test(name)) throw new UsageError('--name: at most 128 UTF-8 bytes, no control characters', ctx.command)
  const currency = required(ctx, 'currency', 'ISO 4217 code')
  if (!/^[A-Z]{3}$/.test(currency)) throw new UsageError(`--currency: expected an ISO 4217 code in capitals such as USD, got ${JSON.stringify(currency)}`, ctx.command)
  const friendly = hours(optional(ctx, 'friendly-credit-hours') ?? '', '--friendly-credit-hours', ctx.command)
  const beaconIntervalMs = duration(optional(ctx, 'beacon-interval') ?? '5m', '--beacon-interval', ctx.command)
  if (beaconIntervalMs < MIN_BEACON_INTERVAL_MS) throw new UsageError('--beacon-interval: at least 1s', ctx.command)
  const mintSlackMs = duration(optional(ctx, 'mint-slack') ?? '15m', '--mint-slack', ctx.command)
  const config = await readConfig(ctx.dataDir)
  const registrarNames = list(ctx, 'registrar')
  const oracleNames = list(ctx, 'oracle')
  if (registrarNames.length === 0) {
    const own = keyOfRole(config, 'registrar')
    if (own === undefined) throw new UsageError('--registrar <key name>: this node holds no registrar key (microgrid keys add registrar)', ctx.command)
    registrarNames.push(own.name)
  }
  if (oracleNames.length === 0) {
    const own = keyOfRole(config, 'oracle')
    if (own === undefined) throw new UsageError('--oracle <key name | account id>: a grid needs a payment oracle, and this node holds no oracle key', ctx.command)
    oracleNames.push(own.name)
  }
  const registrars = keysFrom(registrarNames, config, '--registrar', ctx.command)
  const oracles = keysFrom(oracleNames, config, '--oracle', ctx.command)
  const signerKey = registrars.find(r => r.local !== undefined)?.local
  if (signerKey === undefined) throw new UsageError('--registrar: one registrar must be a key of this node: it signs the genesis', ctx.command)
  if (registrars.length + oracles.length > 64) throw new UsageError('at most 32 registrars and 32 oracles', ctx.command)
  const existing = await readGenesis(ctx.dataDir)
  if (existing !== undefined) {
    throw new CliError(`${ctx.dataDir} already has a grid (${gridIdText(existing.op.id)}, ${paths(ctx.dataDir).genesis}); nothing was changed`, { code: 'grid-exists' })
  }
  const pass = await passphrase(ctx, false)
  const signers = await unlockKeys(ctx.dataDir, { ...config, keys: [signerKey] }, pass)
  const signer = signers.get(signerKey.name)!
  let signed
  try {
    signed = signOp({
      v: PROTOCOL_VERSION, grid: null, kind: 'genesis', author: signer.publicKey, seq: 0, prev: null, deps: [], ts: Date.now(),
      body: {
        name,
        currency,
        registrars: sortedUnique(registrars.map(r => r.key)),
        oracles: sortedUnique(oracles.map(o => o.key)),
        policy: { friendlyCreditHours: friendly, beaconIntervalMs, mintSlackMs }
      }
    } as UnsignedOp, signer)
  } catch (err) {
    throw new UsageError(`grid create: ${(err as Error).message}`, ctx.command)
  }
  const file = paths(ctx.dataDir).genesis
  await writeFileAtomic(file, signed.bytes)
  const genesis = { bytes: signed.bytes, op: decodeGenesis(signed.bytes, file) }
  const { json, human } = describe(genesis.op, file)
  ctx.result({ ...json, link: gridLink(genesis) }, () => [...human, `next      microgrid start --data ${ctx.dataDir}; share the grid with microgrid grid export --qr`])
  return undefined
}

export async function gridExport (ctx: Context): Promise<undefined> {
  const genesis = await requireGenesis(ctx.dataDir)
  const out = optional(ctx, 'out')
  const link = gridLink(genesis)
  if (out !== undefined) {
    await writeFile(out, genesis.bytes).catch((err: NodeJS.ErrnoException) => {
      throw new CliError(`--out: cannot write ${out} (${err.code ?? err.message})`, { code: 'write-failed' })
    })
  }
  const qr = flag(ctx, 'qr')
  ctx.result({ grid: gridIdText(genesis.op.id), name: (genesis.op.op.body as GenesisBody).name, link, file: out ?? null, bytes: genesis.bytes.length }, () => [
    ...(out !== undefined ? [`wrote     ${out} (${genesis.bytes.length} bytes): join with microgrid grid join ${out}`] : []),
    ...(out === undefined || qr ? [link] : []),
    ...(qr ? renderUnicodeCompact(link, { border: 1 }).split('\n') : [])
  ])
  return undefined
}

export async function gridJoin (ctx: Context): Promise<undefined> {
  const source = ctx.positionals[0] as string
  let genesis: { bytes: Uint8Array, op: DecodedOp }
  if (/^(?:web\+)?microgrid:/i.test(source.trim())) {
    genesis = parseGridLink(source)
  } else {
    let bytes: Uint8Array
    try {
      bytes = await readFile(source)
    } catch (err) {
      throw new CliError(`cannot read ${source} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): expected a genesis file or a ${GRID_LINK_PREFIX}… link`, { code: 'bad-genesis' })
    }
    // A file holding the link's text works too.
    const text = Buffer.from(bytes).toString('utf8').trim()
    genesis = /^(?:web\+)?microgrid:grid\?/i.test(text) ? parseGridLink(text) : { bytes, op: decodeGenesis(bytes, source) }
  }
  await readConfig(ctx.dataDir)
  const file = paths(ctx.dataDir).genesis
  const existing = await readGenesis(ctx.dataDir)
  if (existing !== undefined && gridIdText(existing.op.id) !== gridIdText(genesis.op.id)) {
    throw new CliError(`${ctx.dataDir} is on grid ${gridIdText(existing.op.id)}, not ${gridIdText(genesis.op.id)}: a data directory holds one grid (use another --data); nothing was changed`, { code: 'other-grid' })
  }
  if (existing === undefined) await writeFileAtomic(file, genesis.bytes)
  const { json, human } = describe(genesis.op, file)
  ctx.result({ ...json, joined: existing === undefined }, () => [
    ...human,
    existing === undefined ? `next      microgrid start --data ${ctx.dataDir} [--peer <invite>]` : 'already   on this grid: nothing changed'
  ])
  return undefined
}

export async function gridShow (ctx: Context): Promise<undefined> {
  const genesis = await requireGenesis(ctx.dataDir)
  const { json, human } = describe(genesis.op, paths(ctx.dataDir).genesis)
  ctx.result({ ...json, link: gridLink(genesis) }, () => human)
  return undefined
}

