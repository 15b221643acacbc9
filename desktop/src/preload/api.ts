/**
 * The contract between the desktop app's main process and its renderer: the IPC channel names, the
 * types that cross them, and the checks the main process runs on every argument the renderer sends.
 * Imported by the preload (channel names, types) and by the main process (types, checks); it imports
 * nothing, so the sandboxed preload bundle stays small.
 */

/** One channel per preload function; the renderer reaches them only through `window.microgrid`. */
export const CHANNELS = Object.freeze({
  connection: 'node:connection',
  nodeState: 'node:state',
  chooseGenesisFile: 'setup:choose-genesis-file',
  setup: 'setup:join-grid',
  unlock: 'node:unlock',
  openExternal: 'shell:open-external'
} as const)

export type Channel = typeof CHANNELS[keyof typeof CHANNELS]

/** Where the renderer reaches its node's API, and the bearer token every API request carries. */
export interface Connection {
  /** Base URL of the API for the renderer (`${url}/api/v1/status`): the app's own origin, which forwards to the node. */
  url: string
  token: string
}

/** The household node, as the first-run and unlock screens need to know it. */
export type NodeState =
  | { state: 'starting' }
  /** `url` and `token` as in Connection; `api` the node's own loopback URL (for the command line), `grid` its grid id. */
  | { state: 'ready', url: string, token: string, api: string, grid: string, peerId: string }
  /** No node in the data directory yet: `setup` makes one. `keychain` false: the setup must give a passphrase. */
  | { state: 'setup-needed', keychain: boolean }
  /** The node exists but its keys need the passphrase (no keychain, or the stored one failed): `unlock`. */
  | { state: 'locked', keychain: boolean, reason: string }
  | { state: 'failed', message: string }

/** A grid's genesis as the user gave it: a `microgrid:grid?…` link (typed or scanned) or a chosen file. */
export type GenesisSource =
  | { kind: 'link', text: string }
  /** The file's bytes, base64 (what `chooseGenesisFile` returns): a genesis op, or a file holding a link. */
  | { kind: 'file', name: string, data: string }

export interface SetupRequest {
  genesis: GenesisSource
  /** A neighbour's `microgrid:invite?…` (or a multiaddr with /p2p/): dialled at every start. */
  invite?: string
  /** The keys' passphrase; required only when the system has no keychain (NodeState's `keychain` false). */
  passphrase?: string
}

/** A file the user picked in the main process's dialog: its name and bytes (base64). */
export interface ChosenFile {
  name: string
  data: string
}

/** `window.microgrid` in the desktop app: one function per channel. */
export interface MicrogridDesktopApi {
  /** Resolves once the node runs (after setup or unlock when those are needed). */
  connection: () => Promise<Connection>
  nodeState: () => Promise<NodeState>
  /** Opens the system's file dialog; null when the user cancels. */
  chooseGenesisFile: () => Promise<ChosenFile | null>
  /** First run: makes the keys, joins the grid, starts the node. */
  setup: (request: SetupRequest) => Promise<NodeState>
  unlock: (passphrase: string) => Promise<NodeState>
  /** Opens an http(s) link in the system browser; false when the link is refused. */
  openExternal: (url: string) => Promise<boolean>
}

export const LIMITS = Object.freeze({
  /** A genesis op is a few hundred bytes; its link a little more. */
  genesisBytes: 64 * 1024,
  linkChars: 96 * 1024,
  inviteChars: 4096,
  fileNameChars: 255,
  passphraseMin: 8,
  passphraseMax: 1024,
  urlChars: 2048
})

/** A malformed argument from the renderer: refused before anything runs. */
export class IpcInputError extends TypeError {
  override readonly name = 'IpcInputError'
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function text (v: unknown, field: string, max: number, min = 1): string {
  if (typeof v !== 'string') throw new IpcInputError(`${field}: expected text, got ${v === null ? 'null' : typeof v}`)
  if (v.length < min || v.length > max) throw new IpcInputError(`${field}: expected ${min} to ${max} characters, got ${v.length}`)
  return v
}

function onlyKeys (v: Record<string, unknown>, allowed: readonly string[], field: string): void {
  const extra = Object.keys(v).find(k => !allowed.includes(k))
  if (extra !== undefined) throw new IpcInputError(`${field}: unexpected field ${JSON.stringify(extra)} (expected ${allowed.join(', ')})`)
}

/** Checks the arguments of a channel that takes none. */
export function parseNoArguments (args: readonly unknown[]): void {
  if (args.length !== 0) throw new IpcInputError(`expected no arguments, got ${args.length}`)
}

function single (args: readonly unknown[]): unknown {
  if (args.length !== 1) throw new IpcInputError(`expected one argument, got ${args.length}`)
  return args[0]
}

export function parsePassphrase (v: unknown, field = 'passphrase'): string {
  return text(v, field, LIMITS.passphraseMax, LIMITS.passphraseMin)
}

export function parseGenesisSource (v: unknown): GenesisSource {
  if (!isRecord(v)) throw new IpcInputError('genesis: expected { kind: "link", text } or { kind: "file", name, data }')
  if (v.kind === 'link') {
    onlyKeys(v, ['kind', 'text'], 'genesis')
    const link = text(v.text, 'genesis.text', LIMITS.linkChars).trim()
    if (!/^(?:web\+)?microgrid:grid\?/i.test(link)) throw new IpcInputError('genesis.text: expected a grid link "microgrid:grid?id=…&genesis=…"')
    return { kind: 'link', text: link }
  }
  if (v.kind === 'file') {
    onlyKeys(v, ['kind', 'name', 'data'], 'genesis')
    const name = text(v.name, 'genesis.name', LIMITS.fileNameChars)
    const data = text(v.data, 'genesis.data', Math.ceil(LIMITS.genesisBytes / 3) * 4)
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(data) || data.length % 4 !== 0) throw new IpcInputError('genesis.data: expected the file\'s bytes in base64')
    return { kind: 'file', name, data }
  }
  throw new IpcInputError(`genesis.kind: expected "link" or "file", got ${JSON.stringify(v.kind)}`)
}

export function parseSetupArguments (args: readonly unknown[]): SetupRequest {
  const v = single(args)
  if (!isRecord(v)) throw new IpcInputError('setup: expected { genesis, invite?, passphrase? }')
  onlyKeys(v, ['genesis', 'invite', 'passphrase'], 'setup')
  const request: SetupRequest = { genesis: parseGenesisSource(v.genesis) }
  if (v.invite !== undefined && v.invite !== '') request.invite = text(v.invite, 'invite', LIMITS.inviteChars).trim()
  if (v.passphrase !== undefined) request.passphrase = parsePassphrase(v.passphrase)
  return request
}

export function parseUnlockArguments (args: readonly unknown[]): string {
  return parsePassphrase(single(args))
}

export function parseOpenExternalArguments (args: readonly unknown[]): string {
  return text(single(args), 'url', LIMITS.urlChars)
}
