/**
 * The household node of the desktop app, for real: a grid made by an authority's data directory (the
 * `microgrid` CLI), then the app's first-run setup from its genesis file or link, a real node and API
 * on loopback answering with the token the app exposes, the keychain keeping the passphrase, a restart
 * that needs no typing, and a locked node unlocked by the passphrase.
 */
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '@microgrid/node'
import { appProtocolHandler } from '../src/main/app-protocol.ts'
import { APP_ORIGIN } from '../src/main/app-scheme.ts'
import { householdNode, HouseholdNodeError, type HouseholdNode } from '../src/main/household-node.ts'
import { keychainPassphraseStore, type PassphraseStore, type SecretCipher } from '../src/main/passphrase-store.ts'

const AUTHORITY_PASS = 'authority passphrase'
const loopback = { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, lightKdf: true }

/** A keychain whose secret key is in memory: encrypts by XOR, so the file never holds the passphrase in the clear. */
function memoryKeychain (available = true): SecretCipher {
  const key = 0x5a
  return {
    isAvailable: async () => available,
    encrypt: async text => Uint8Array.from(Buffer.from(text, 'utf8'), b => b ^ key),
    decrypt: async data => Buffer.from(Uint8Array.from(data, b => b ^ key)).toString('utf8')
  }
}

async function cli (args: string[]): Promise<Record<string, unknown>> {
  const lines: string[] = []
  await runCli([...args, '--json'], line => { lines.push(line) }, { env: {}, err: () => {}, prompt: async () => AUTHORITY_PASS })
  return JSON.parse(lines.at(-1) ?? '{}') as Record<string, unknown>
}

let dir: string
let genesisFile: string
let gridLink: string
let grid: string
const started: HouseholdNode[] = []

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'microgrid-desktop-node-'))
  const authority = join(dir, 'authority')
  await cli(['init', '--data', authority, '--keys', 'registrar,oracle', '--light-kdf', '--no-mdns', '--api-port', '0'])
  const created = await cli(['grid', 'create', '--data', authority, '--name', 'Hillside', '--currency', 'USD'])
  grid = created.grid as string
  gridLink = created.link as string
  genesisFile = join(dir, 'hillside.genesis')
  await cli(['grid', 'export', '--data', authority, '--out', genesisFile])
})

afterAll(async () => {
  for (const n of started) await n.stop()
  await rm(dir, { recursive: true, force: true })
})

function makeNode (name: string, passphrases: PassphraseStore): HouseholdNode {
  const node = householdNode({ dataDir: join(dir, name, 'node'), passphrases, settings: loopback })
  started.push(node)
  return node
}

async function status (apiUrl: string, token: string): Promise<Response> {
  return await fetch(`${apiUrl}/api/v1/status`, { headers: { authorization: `Bearer ${token}` } })
}

describe('the household node', () => {
  it('sets up from a genesis file, runs a real API on loopback with the token it exposes, and starts again from the keychain', async () => {
    const keyFile = join(dir, 'home', 'passphrase.bin')
    const store = keychainPassphraseStore(keyFile, memoryKeychain())
    const node = makeNode('home', store)
    expect(await node.open()).toEqual({ state: 'setup-needed', keychain: true })
    const connection = node.connection()

    const bytes = await readFile(genesisFile)
    const ready = await node.setup({ genesis: { kind: 'file', name: 'hillside.genesis', data: bytes.toString('base64') } })
    expect(ready.state).toBe('ready')
    if (ready.state !== 'ready') return
    expect(ready.url).toBe(APP_ORIGIN)
    expect(ready.grid).toBe(grid)
    expect(ready.api).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(node.apiUrl()).toBe(ready.api)
    // A renderer waiting for the connection gets it once the node runs.
    expect(await connection).toEqual({ url: APP_ORIGIN, token: ready.token })

    const res = await status(ready.api, ready.token)
    expect(res.status).toBe(200)
    const body = await res.json() as { peerId: string, grid: { id: string, name: string } }
    expect(body.peerId).toBe(ready.peerId)
    expect(body.grid.name).toBe('Hillside')
    expect((await status(ready.api, 'not-the-token')).status).toBe(401)

    // Through the app's own origin, as the renderer calls it.
    const viaScheme = appProtocolHandler({ rendererDir: dir, apiUrl: () => node.apiUrl() })
    const proxied = await viaScheme(new Request(`${APP_ORIGIN}/api/v1/status`, { headers: { authorization: `Bearer ${ready.token}` } }))
    expect(proxied.status).toBe(200)
    expect(((await proxied.json()) as { peerId: string }).peerId).toBe(ready.peerId)

    // The keychain file holds the passphrase encrypted, and the keys are encrypted with it.
    const kept = await readFile(keyFile)
    const passphrase = await store.load()
    expect(passphrase).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(kept.toString('utf8')).not.toContain(passphrase)
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600)
    const config = JSON.parse(await readFile(join(dir, 'home', 'node', 'config.json'), 'utf8')) as { api: { token: string }, keys: Array<{ role: string }> }
    expect(config.api.token).toBe(ready.token)
    expect(config.keys.map(k => k.role)).toEqual(['resident'])

    // A second setup is refused; the node keeps running.
    await expect(node.setup({ genesis: { kind: 'link', text: gridLink } })).rejects.toThrow(/already has a node/)

    await node.stop()
    expect(node.apiUrl()).toBeUndefined()
    await expect(status(ready.api, ready.token)).rejects.toThrow()

    // The next start of the app: no setup, no passphrase typed.
    const again = makeNode('home', store)
    const reopened = await again.open()
    expect(reopened.state).toBe('ready')
    if (reopened.state !== 'ready') return
    expect(reopened.token).toBe(ready.token)
    expect(reopened.peerId).toBe(ready.peerId)
    expect((await status(reopened.api, reopened.token)).status).toBe(200)
    await again.stop()
  })

  it('without a keychain, sets up from a grid link with the passphrase typed, then is locked until unlocked with it', async () => {
    const store = keychainPassphraseStore(join(dir, 'nokeychain.bin'), memoryKeychain(false))
    const node = makeNode('typed', store)
    expect(await node.open()).toEqual({ state: 'setup-needed', keychain: false })
    await expect(node.setup({ genesis: { kind: 'link', text: gridLink } })).rejects.toThrow(/no keychain/)
    expect(await readdir(join(dir, 'typed')).catch(() => [])).toEqual([])

    const ready = await node.setup({ genesis: { kind: 'link', text: gridLink }, passphrase: 'correct horse battery' })
    expect(ready.state).toBe('ready')
    await node.stop()

    const next = makeNode('typed', store)
    expect(await next.open()).toMatchObject({ state: 'locked', keychain: false })
    expect(await next.unlock('wrong passphrase')).toMatchObject({ state: 'locked', reason: expect.stringMatching(/passphrase/) })
    const unlocked = await next.unlock('correct horse battery')
    expect(unlocked.state).toBe('ready')
    if (unlocked.state === 'ready') expect((await status(unlocked.api, unlocked.token)).status).toBe(200)
    await next.stop()
  })

  it('refuses a damaged genesis or invite before writing anything', async () => {
    const node = makeNode('refused', keychainPassphraseStore(join(dir, 'refused.bin'), memoryKeychain()))
    await node.open()
    const bytes = await readFile(genesisFile)
    const damaged = Buffer.from(bytes)
    damaged[damaged.length - 5] = (damaged[damaged.length - 5] as number) ^ 0xff
    const err = await node.setup({ genesis: { kind: 'file', name: 'damaged.genesis', data: damaged.toString('base64') } }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(HouseholdNodeError)
    expect((err as HouseholdNodeError).code).toBe('bad-genesis')
    await expect(node.setup({ genesis: { kind: 'link', text: gridLink.replace('genesis=', 'genesis=AAAA') } })).rejects.toThrow(/genesis/)
    await expect(node.setup({ genesis: { kind: 'link', text: gridLink }, invite: 'microgrid:invite?addr=/ip4/1.2.3.4/tcp/1' })).rejects.toThrow(/invite/)
    expect(await readdir(join(dir, 'refused')).catch(() => [])).toEqual([])
    expect(node.state()).toEqual({ state: 'setup-needed', keychain: true })
  })
})
