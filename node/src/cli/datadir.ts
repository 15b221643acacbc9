/**
 * The data directory (`--data`, default ~/.microgrid/node):
 *
 *   config.json     the node's settings: API host/port/LAN mode and token, listen addresses, bootstrap
 *                   peers, mDNS, which keys it holds and as what (0600: it holds the API token)
 *   keys/           the key ring: one Web3 Secret Storage v3 keystore per key, and keys.json
 *   peer.key        the libp2p identity (its peer id)
 *   grid.genesis    the grid's genesis op (grid create / grid join)
 *   ledger.sqlite   the ledger (the node makes it on its first start)
 *   run.json        while `start` runs: its pid and the API's URL (removed when it stops)
 */
import { readFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { accountId, decodeOp, OpDecodeError, verifyOp, type DecodedOp, type OpSigner } from '@microgrid/protocol'
import { KeyRing } from '../keys.ts'
import { KeystoreError, WrongPassphraseError, passphraseFrom, writeFileAtomic, PASSPHRASE_ENV } from '../keystore.ts'
import { CliError, type Context } from './common.ts'

/** What a node's keys are for. */
export const KEY_ROLES = ['resident', 'utility', 'producer', 'registrar', 'oracle'] as const
export type KeyRole = typeof KEY_ROLES[number]

export interface KeyConfig {
  /** The key's name in the ring, and in the API's `"as"`. */
  name: string
  role: KeyRole
  /** Its account id (also in keys/keys.json). */
  account: string
}

export interface NodeConfig {
  version: 1
  api: {
    /** Address the API binds: 127.0.0.1 unless `lan`. */
    host: string
    /** Its port; 0 picks a free one at each start (clients find it in run.json). */
    port: number
    /** Bind every interface, for residents' phones on the LAN (same token). */
    lan: boolean
    /** The bearer token every request carries. */
    token: string
    /** Optional: the built UI's directory (relative: to the data directory), served at the API's URL. */
    ui?: string
  }
  /** libp2p listen multiaddrs. */
  listen: string[]
  /** Peers (multiaddrs with /p2p/) dialled at start and kept in touch with. */
  bootstrap: string[]
  /** Find neighbours on the LAN. */
  mdns: boolean
  keys: KeyConfig[]
}

export interface RunInfo {
  pid: number
  url: string
  lanUrls: string[]
  peerId: string
  grid: string
  startedAt: number
}

export const DEFAULT_API_PORT = 4100
export const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/4101']

export function paths (dataDir: string): { config: string, keys: string, genesis: string, peerKey: string, ledger: string, run: string } {
  return {
    config: join(dataDir, 'config.json'),
    keys: join(dataDir, 'keys'),
    genesis: join(dataDir, 'grid.genesis'),
    peerKey: join(dataDir, 'peer.key'),
    ledger: join(dataDir, 'ledger.sqlite'),
    run: join(dataDir, 'run.json')
  }
}

export const notInitialised = (dataDir: string): CliError =>
  new CliError(`no node in ${dataDir}: run \`microgrid init --data ${dataDir}\` first`, { code: 'not-initialised' })

function bad (file: string, field: string, problem: string): CliError {
  return new CliError(`${file}: ${field}: ${problem}`, { code: 'bad-config' })
}

/** Reads and checks config.json; a CliError naming the file and the field when it is missing or wrong. */
export async function readConfig (dataDir: string): Promise<NodeConfig> {
  const file = paths(dataDir).config
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notInitialised(dataDir)
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { code: 'bad-config' })
  }
  let c: NodeConfig
  try {
    c = JSON.parse(text) as NodeConfig
  } catch (err) {
    throw new CliError(`${file}: not valid JSON (${(err as Error).message})`, { code: 'bad-config' })
  }
  if (typeof c !== 'object' || c === null || c.version !== 1) throw bad(file, 'version', 'expected 1')
  const api = c.api
  if (typeof api !== 'object' || api === null) throw bad(file, 'api', 'expected { host, port, lan, token }')
  if (typeof api.host !== 'string' || api.host === '') throw bad(file, 'api.host', 'expected an address such as 127.0.0.1')
  if (!Number.isSafeInteger(api.port) || api.port < 0 || api.port > 65535) throw bad(file, 'api.port', 'expected a port 0-65535')
  if (typeof api.lan !== 'boolean') throw bad(file, 'api.lan', 'expected true or false')
  if (typeof api.token !== 'string' || api.token.length < 8) throw bad(file, 'api.token', 'expected a token of at least 8 characters')
  if (api.ui !== undefined && (typeof api.ui !== 'string' || api.ui === '')) throw bad(file, 'api.ui', 'expected the path of the built UI\'s directory')
  for (const field of ['listen', 'bootstrap'] as const) {
    if (!Array.isArray(c[field]) || c[field].some(a => typeof a !== 'string')) throw bad(file, field, 'expected a list of multiaddrs')
  }
  if (typeof c.mdns !== 'boolean') throw bad(file, 'mdns', 'expected true or false')
  if (!Array.isArray(c.keys)) throw bad(file, 'keys', 'expected a list of { name, role, account }')
  c.keys.forEach((k, i) => {
    if (typeof k?.name !== 'string' || !(KEY_ROLES as readonly string[]).includes(k.role) || typeof k.account !== 'string') {
      throw bad(file, `keys[${i}]`, `expected { name, role (${KEY_ROLES.join(', ')}), account }`)
    }
  })
  return c
}

/** config.json, or undefined when the directory is not initialised (commands check their arguments first). */
export async function readConfigIfAny (dataDir: string): Promise<NodeConfig | undefined> {
  try {
    return await readConfig(dataDir)
  } catch (err) {
    if (err instanceof CliError && err.code === 'not-initialised') return undefined
    throw err
  }
}

/** Writes config.json atomically, readable by its owner only (it holds the API token). */
export async function writeConfig (dataDir: string, config: NodeConfig): Promise<void> {
  await writeFileAtomic(paths(dataDir).config, JSON.stringify(config, null, 2) + '\n')
}

/** The genesis op in the data directory, or undefined when there is none yet. */
export async function readGenesis (dataDir: string): Promise<{ bytes: Uint8Array, op: DecodedOp } | undefined> {
  const file = paths(dataDir).genesis
  let bytes: Uint8Array
  try {
    bytes = await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  return { bytes, op: decodeGenesis(bytes, file) }
}

/** Decodes a genesis op (checking its signature); a CliError saying what `source` holds otherwise. */
export function decodeGenesis (bytes: Uint8Array, source: string): DecodedOp {
  let op: DecodedOp
  try {
    op = decodeOp(bytes)
  } catch (err) {
    if (err instanceof OpDecodeError) throw new CliError(`${source}: not a genesis op (${err.message})`, { code: 'bad-genesis' })
    throw err
  }
  if (op.op.kind !== 'genesis') throw new CliError(`${source}: a ${op.op.kind} op, not a genesis op`, { code: 'bad-genesis' })
  try {
    verifyOp(op)
  } catch (err) {
    throw new CliError(`${source}: the genesis op's signature does not verify (altered or damaged)`, { code: 'bad-genesis', cause: err })
  }
  return op
}

/** The genesis, or a CliError saying how to get one. */
export async function requireGenesis (dataDir: string): Promise<{ bytes: Uint8Array, op: DecodedOp }> {
  const g = await readGenesis(dataDir)
  if (g === undefined) {
    throw new CliError(`no grid in ${dataDir} yet: run \`microgrid grid create\` (a new grid) or \`microgrid grid join <file | link>\``, { code: 'no-grid' })
  }
  return g
}

function alive (pid: number): boolean {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** run.json if a node started on this directory is still alive (a stale file is ignored). */
export async function readRun (dataDir: string): Promise<RunInfo | undefined> {
  let info: RunInfo
  try {
    info = JSON.parse(await readFile(paths(dataDir).run, 'utf8')) as RunInfo
  } catch {
    return undefined
  }
  if (typeof info?.pid !== 'number' || typeof info.url !== 'string' || !alive(info.pid)) return undefined
  return info
}

export async function writeRun (dataDir: string, info: RunInfo): Promise<void> {
  await writeFileAtomic(paths(dataDir).run, JSON.stringify(info, null, 2) + '\n')
}

export async function removeRun (dataDir: string): Promise<void> {
  const run = await readRun(dataDir)
  if (run === undefined || run.pid === process.pid) await unlink(paths(dataDir).run).catch(() => {})
}

/** The passphrase: $MICROGRID_PASSPHRASE, else a hidden prompt on the terminal (twice with `confirm`). */
export async function passphrase (ctx: Context, confirm: boolean): Promise<string> {
  try {
    return await passphraseFrom({ confirm, ...(ctx.io.prompt !== undefined ? { prompt: ctx.io.prompt } : {}) })
  } catch (err) {
    throw new CliError((err as Error).message, { code: 'no-passphrase', cause: err })
  }
}

export { PASSPHRASE_ENV }

/** Unlocks every key the config names; a wrong passphrase fails before anything starts. */
export async function unlockKeys (dataDir: string, config: NodeConfig, pass: string): Promise<Map<string, OpSigner>> {
  const ring = await KeyRing.open(paths(dataDir).keys)
  const signers = new Map<string, OpSigner>()
  for (const k of config.keys) {
    const signer = await ring.signer(k.name, pass).catch((err: unknown) => { throw passphraseError(err) })
    if (accountId(signer.publicKey) !== k.account) {
      throw new CliError(`config.json says key "${k.name}" is ${k.account}, but the key ring holds ${accountId(signer.publicKey)}`, { code: 'bad-config' })
    }
    signers.set(k.name, signer)
  }
  return signers
}

/** A wrong passphrase as a CliError (exit 1, code wrong-passphrase); other errors as they are. */
export function passphraseError (err: unknown): unknown {
  if (err instanceof WrongPassphraseError) {
    return new CliError(`${err.message}: give the passphrase the keys were made with (${PASSPHRASE_ENV} or the prompt)`, { code: 'wrong-passphrase', cause: err })
  }
  if (err instanceof KeystoreError) return new CliError(err.message, { code: 'keystore', cause: err })
  return err
}

/** The key of a role (the one named after it first), if the node holds one. */
export function keyOfRole (config: NodeConfig, role: KeyRole): KeyConfig | undefined {
  return config.keys.find(k => k.role === role && k.name === role) ?? config.keys.find(k => k.role === role)
}
