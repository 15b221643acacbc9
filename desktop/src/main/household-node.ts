/**
 * The household's node inside the desktop app. It is the `microgrid` command line's own code, called
 * in-process (`runCli` from @microgrid/node): `init` makes the data directory and the encrypted keys,
 * `grid join` takes the grid's genesis, `start` runs the node and its API on 127.0.0.1 at a free port.
 * The passphrase comes from the keychain (a random one made at setup) or from the user (`unlock`).
 *
 *   open()   a data directory with keys and a grid: start (or 'locked' without a kept passphrase);
 *            none yet: 'setup-needed'
 *   setup()  first run: check the genesis, make the keys, join the grid, start
 *   unlock() start with a typed passphrase
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PASSPHRASE_ENV, parseInvite, runCli } from '@microgrid/node'
import type { Connection, GenesisSource, NodeState, SetupRequest } from '../preload/api.ts'
import { APP_ORIGIN } from './app-scheme.ts'
import type { PassphraseStore } from './passphrase-store.ts'

export { PASSPHRASE_ENV }

type Running = NonNullable<Awaited<ReturnType<typeof runCli>>>

export interface HouseholdNodeInit {
  /** The node's data directory (the app's default: userData/node). */
  dataDir: string
  passphrases: PassphraseStore
  /** A new passphrase for the keys when the keychain keeps it (default: 32 random bytes, base64url). */
  newPassphrase?: () => string
  /** Settings `init` writes to config.json (defaults: the CLI's: libp2p on TCP 4101, mDNS on, standard scrypt). */
  settings?: { listen?: string[], mdns?: boolean, lightKdf?: boolean }
  /** The node's lines of warning and progress. */
  log?: (line: string) => void
}

export interface HouseholdNode {
  state: () => NodeState
  open: () => Promise<NodeState>
  setup: (request: SetupRequest) => Promise<NodeState>
  unlock: (passphrase: string) => Promise<NodeState>
  /** Resolves once the node runs. */
  connection: () => Promise<Connection>
  /** The API's loopback URL while the node runs (app-protocol.ts forwards /api/ there). */
  apiUrl: () => string | undefined
  stop: () => Promise<void>
}

/** A setup or unlock the node refused; nothing was changed unless the message says so. */
export class HouseholdNodeError extends Error {
  override readonly name = 'HouseholdNodeError'
  readonly code: string

  constructor (message: string, code: string, cause?: unknown) {
    super(message, cause !== undefined ? { cause } : undefined)
    this.code = code
  }
}

const codeOf = (err: unknown): string | undefined => {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

async function exists (path: string): Promise<boolean> {
  return await stat(path).then(() => true, () => false)
}

export function householdNode (init: HouseholdNodeInit): HouseholdNode {
  const dir = init.dataDir
  const log = init.log ?? (() => {})
  const newPassphrase = init.newPassphrase ?? (() => randomBytes(32).toString('base64url'))
  let current: NodeState = { state: 'starting' }
  let running: Running | undefined
  let api: string | undefined
  let busy = false
  let waiting: Array<(c: Connection) => void> = []

  const set = (s: NodeState): NodeState => {
    current = s
    if (s.state === 'ready') {
      for (const resolve of waiting.splice(0)) resolve({ url: s.url, token: s.token })
    }
    return s
  }

  /** Runs one `microgrid` command on the data directory; its --json result. */
  async function cli (args: string[], passphrase?: string): Promise<{ result: Record<string, unknown>, running: Running | undefined }> {
    if ((process.env[PASSPHRASE_ENV] ?? '') !== '') {
      // The command line would take it over the app's own passphrase.
      throw new HouseholdNodeError(`${PASSPHRASE_ENV} is set in the app's environment: the app gives the passphrase itself; unset it`, 'environment')
    }
    const lines: string[] = []
    const r = await runCli([...args, '--data', dir, '--json'], line => { lines.push(line) }, {
      env: {},
      err: log,
      errRaw: () => {},
      errIsTTY: false,
      ...(passphrase !== undefined ? { prompt: async () => passphrase } : {})
    })
    const last = lines.at(-1)
    return { result: last !== undefined ? JSON.parse(last) as Record<string, unknown> : {}, running: r }
  }

  async function exclusive (what: string, run: () => Promise<NodeState>): Promise<NodeState> {
    if (busy) throw new HouseholdNodeError(`the node is busy (${current.state}): try ${what} again in a moment`, 'busy')
    busy = true
    try {
      return await run()
    } finally {
      busy = false
    }
  }

  const configFile = join(dir, 'config.json')
  const genesisFile = join(dir, 'grid.genesis')

  async function start (passphrase: string): Promise<NodeState> {
    set({ state: 'starting' })
    let r: Awaited<ReturnType<typeof cli>>
    try {
      r = await cli(['start', '--api-host', '127.0.0.1', '--api-port', '0'], passphrase)
    } catch (err) {
      const code = codeOf(err)
      const keychain = await init.passphrases.available()
      if (code === 'wrong-passphrase' || code === 'no-passphrase') return set({ state: 'locked', keychain, reason: (err as Error).message })
      return set({ state: 'failed', message: (err as Error).message })
    }
    running = r.running
    const token = (JSON.parse(await readFile(configFile, 'utf8')) as { api?: { token?: unknown } }).api?.token
    if (running?.url === undefined || typeof token !== 'string') {
      await running?.stop()
      running = undefined
      return set({ state: 'failed', message: `the node started without an API token in ${configFile}` })
    }
    api = running.url
    return set({ state: 'ready', url: APP_ORIGIN, token, api: running.url, grid: String(r.result.grid), peerId: String(r.result.peerId) })
  }

  async function open (): Promise<NodeState> {
    if (running !== undefined) return current
    if (!await exists(configFile) || !await exists(genesisFile)) return set({ state: 'setup-needed', keychain: await init.passphrases.available() })
    const passphrase = await init.passphrases.load()
    if (passphrase === undefined) {
      const keychain = await init.passphrases.available()
      return set({ state: 'locked', keychain, reason: keychain ? 'the keychain holds no passphrase for these keys' : 'this system has no keychain' })
    }
    return await start(passphrase)
  }

  /** The genesis as `grid join` takes it: the link's text, or a file (written to a private temporary directory). */
  async function withGenesis<T> (source: GenesisSource, use: (arg: string) => Promise<T>): Promise<T> {
    if (source.kind === 'link') return await use(source.text)
    const tmp = await mkdtemp(join(tmpdir(), 'microgrid-genesis-'))
    try {
      const file = join(tmp, 'grid.genesis')
      await writeFile(file, Buffer.from(source.data, 'base64'), { mode: 0o600 })
      return await use(file)
    } finally {
      await rm(tmp, { recursive: true, force: true })
    }
  }

  async function setup (request: SetupRequest): Promise<NodeState> {
    if (running !== undefined || (await exists(configFile) && await exists(genesisFile))) {
      throw new HouseholdNodeError(`this app already has a node (${dir}): setup is for the first run`, 'already-set-up')
    }
    const bootstrap: string[] = []
    if (request.invite !== undefined) {
      try {
        for (const a of parseInvite(request.invite).addrs) bootstrap.push(a.toString())
      } catch (err) {
        throw new HouseholdNodeError((err as Error).message, 'bad-invite', err)
      }
    }
    const initialised = await exists(configFile)
    // Checked before anything is written: `grid join` reads the genesis before it looks for the keys.
    if (!initialised) {
      await withGenesis(request.genesis, async arg => {
        try {
          await cli(['grid', 'join', arg])
        } catch (err) {
          if (codeOf(err) !== 'not-initialised') throw new HouseholdNodeError((err as Error).message, codeOf(err) ?? 'bad-genesis', err)
        }
      })
    }
    const keychain = await init.passphrases.available()
    let passphrase = request.passphrase
    if (passphrase === undefined) {
      if (!keychain) throw new HouseholdNodeError('this system has no keychain to keep the keys\' passphrase: choose one (at least 8 characters)', 'passphrase-needed')
      passphrase = (initialised ? await init.passphrases.load() : undefined) ?? newPassphrase()
    }
    // Kept before the keys are made with it: an interrupted setup must not lose it.
    if (keychain) await init.passphrases.save(passphrase)
    set({ state: 'starting' })
    try {
      if (!initialised) {
        const s = init.settings ?? {}
        await cli([
          'init', '--keys', 'resident', '--api-port', '0',
          ...(s.lightKdf === true ? ['--light-kdf'] : []),
          ...(s.mdns === false ? ['--no-mdns'] : []),
          ...(s.listen ?? []).flatMap(a => ['--listen', a]),
          ...bootstrap.flatMap(a => ['--bootstrap', a])
        ], passphrase)
      }
      await withGenesis(request.genesis, async arg => await cli(['grid', 'join', arg]))
    } catch (err) {
      set({ state: 'setup-needed', keychain })
      throw new HouseholdNodeError((err as Error).message, codeOf(err) ?? 'setup-failed', err)
    }
    return await start(passphrase)
  }

  async function unlock (passphrase: string): Promise<NodeState> {
    if (running !== undefined) return current
    if (current.state !== 'locked') throw new HouseholdNodeError(`nothing to unlock: the node is ${current.state}`, 'not-locked')
    const state = await start(passphrase)
    if (state.state === 'ready' && await init.passphrases.available()) await init.passphrases.save(passphrase)
    return state
  }

  return {
    state: () => current,
    open: async () => await exclusive('opening', open),
    setup: async request => await exclusive('the setup', async () => await setup(request)),
    unlock: async passphrase => await exclusive('unlocking', async () => await unlock(passphrase)),
    connection: async () => {
      if (current.state === 'ready') return { url: current.url, token: current.token }
      return await new Promise<Connection>(resolve => { waiting.push(resolve) })
    },
    apiUrl: () => api,
    stop: async () => {
      const r = running
      running = undefined
      api = undefined
      waiting = []
      if (r !== undefined) set({ state: 'failed', message: 'the node was stopped' })
      await r?.stop()
    }
  }
}
