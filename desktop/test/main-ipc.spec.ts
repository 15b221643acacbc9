/**
 * The preload's channels on the main side: only the app's own page is heard, every argument is checked
 * before anything runs (a malformed one changes nothing), links open only when safe; the genesis
 * file the dialog picks is read with a size limit; the keychain store keeps the passphrase encrypted.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHANNELS, IpcInputError, parseSetupArguments, type Channel, type NodeState, type SetupRequest } from '../src/preload/api.ts'
import { GenesisFileError, readGenesisFile } from '../src/main/genesis-file.ts'
import type { HouseholdNode } from '../src/main/household-node.ts'
import { ipcHandlers, IpcSenderError, type IpcSender } from '../src/main/ipc.ts'
import { keychainPassphraseStore, PassphraseStoreError, type SecretCipher } from '../src/main/passphrase-store.ts'

const APP: IpcSender = { frameUrl: 'microgrid-app://app/index.html', isMainFrame: true }
const LINK = 'microgrid:grid?id=mgrid1abc&genesis=AAEC'

/** A node that records what reaches it. */
function recordingNode (): { node: HouseholdNode, calls: Array<[string, unknown]> } {
  const calls: Array<[string, unknown]> = []
  const ready: NodeState = { state: 'ready', url: 'microgrid-app://app', token: 't', api: 'http://127.0.0.1:1', grid: 'g', peerId: 'p' }
  return {
    calls,
    node: {
      state: () => ready,
      open: async () => ready,
      setup: async (request: SetupRequest) => { calls.push(['setup', request]); return ready },
      unlock: async (passphrase: string) => { calls.push(['unlock', passphrase]); return ready },
      connection: async () => ({ url: 'microgrid-app://app', token: 't' }),
      apiUrl: () => 'http://127.0.0.1:1',
      stop: async () => {}
    }
  }
}

function services (): { handle: (channel: Channel, args: unknown[], sender?: IpcSender) => Promise<unknown>, calls: Array<[string, unknown]>, opened: string[] } {
  const { node, calls } = recordingNode()
  const opened: string[] = []
  const handlers = ipcHandlers({ node, chooseGenesisFile: async () => ({ name: 'g.genesis', data: 'AAEC' }), openExternal: async url => { opened.push(url) } })
  return {
    calls,
    opened,
    handle: async (channel, args, sender = APP) => await (handlers.get(channel) as NonNullable<ReturnType<typeof handlers.get>>)(sender, args)
  }
}

describe('IPC handlers', () => {
  it('has one handler per channel of the contract', () => {
    const { node } = recordingNode()
    const handlers = ipcHandlers({ node, chooseGenesisFile: async () => null, openExternal: async () => {} })
    expect([...handlers.keys()].sort()).toEqual(Object.values(CHANNELS).sort())
  })

  it('answers the app\'s page', async () => {
    const s = services()
    expect(await s.handle(CHANNELS.connection, [])).toEqual({ url: 'microgrid-app://app', token: 't' })
    expect(await s.handle(CHANNELS.nodeState, [])).toMatchObject({ state: 'ready' })
    expect(await s.handle(CHANNELS.chooseGenesisFile, [])).toEqual({ name: 'g.genesis', data: 'AAEC' })
    await s.handle(CHANNELS.setup, [{ genesis: { kind: 'link', text: ` ${LINK} ` }, invite: 'microgrid:invite?addr=/ip4/10.0.0.2/tcp/4101/p2p/12D3KooW', passphrase: 'long enough' }])
    await s.handle(CHANNELS.unlock, ['long enough'])
    expect(s.calls).toEqual([
      ['setup', { genesis: { kind: 'link', text: LINK }, invite: 'microgrid:invite?addr=/ip4/10.0.0.2/tcp/4101/p2p/12D3KooW', passphrase: 'long enough' }],
      ['unlock', 'long enough']
    ])
  })

  it.each([
    [{ frameUrl: 'https://example.org/', isMainFrame: true }],
    [{ frameUrl: 'microgrid-app://app/index.html', isMainFrame: false }],
    [{ frameUrl: 'microgrid-app://evil/index.html', isMainFrame: true }],
    [{ frameUrl: undefined, isMainFrame: true }]
  ])('refuses every channel from %o', async sender => {
    const s = services()
    for (const channel of Object.values(CHANNELS)) {
      await expect(s.handle(channel, channel === CHANNELS.unlock ? ['long enough'] : [], sender), channel).rejects.toThrow(IpcSenderError)
    }
    expect(s.calls).toEqual([])
  })

  it.each([
    [CHANNELS.connection, ['extra']],
    [CHANNELS.nodeState, [1]],
    [CHANNELS.chooseGenesisFile, ['/etc/passwd']],
    [CHANNELS.setup, []],
    [CHANNELS.setup, [null]],
    [CHANNELS.setup, ['microgrid:grid?…']],
    [CHANNELS.setup, [{}]],
    [CHANNELS.setup, [{ genesis: { kind: 'link', text: 'https://example.org/genesis' } }]],
    [CHANNELS.setup, [{ genesis: { kind: 'link', text: '--data=/tmp/x' } }]],
    [CHANNELS.setup, [{ genesis: { kind: 'link', text: LINK.padEnd(100 * 1024, 'A') } }]],
    [CHANNELS.setup, [{ genesis: { kind: 'file', name: 'g', data: 'not base64!' } }]],
    [CHANNELS.setup, [{ genesis: { kind: 'file', name: 'g', data: 'A'.repeat(90_000) } }]],
    [CHANNELS.setup, [{ genesis: { kind: 'file', name: '', data: 'AAEC' } }]],
    [CHANNELS.setup, [{ genesis: { kind: 'path', path: '/etc/passwd' } }]],
    [CHANNELS.setup, [{ genesis: { kind: 'link', text: LINK, path: '/etc/passwd' } }]],
    [CHANNELS.setup, [{ genesis: { kind: 'link', text: LINK }, passphrase: 'short' }]],
    [CHANNELS.setup, [{ genesis: { kind: 'link', text: LINK }, passphrase: 12345678 }]],
    [CHANNELS.setup, [{ genesis: { kind: 'link', text: LINK }, invite: 'x'.repeat(5000) }]],
    [CHANNELS.setup, [{ genesis: { kind: 'link', text: LINK }, dataDir: '/tmp/elsewhere' }]],
    [CHANNELS.setup, [{ genesis: { kind: 'link', text: LINK } }, 'more']],
    [CHANNELS.unlock, []],
    [CHANNELS.unlock, [{ passphrase: 'long enough' }]],
    [CHANNELS.unlock, ['x'.repeat(2000)]],
    [CHANNELS.openExternal, []],
    [CHANNELS.openExternal, [{ url: 'https://example.org' }]]
  ])('%s refuses %j before anything runs', async (channel, args) => {
    const s = services()
    await expect(s.handle(channel, args)).rejects.toThrow(IpcInputError)
    expect(s.calls).toEqual([])
    expect(s.opened).toEqual([])
  })

  it('opens only safe web links in the system browser', async () => {
    const s = services()
    expect(await s.handle(CHANNELS.openExternal, ['https://example.org/help'])).toBe(true)
    expect(await s.handle(CHANNELS.openExternal, ['file:///etc/passwd'])).toBe(false)
    expect(await s.handle(CHANNELS.openExternal, ['http://127.0.0.1:4100/api/v1/status'])).toBe(false)
    expect(s.opened).toEqual(['https://example.org/help'])
  })

  it('gives clear messages', () => {
    expect(() => parseSetupArguments([{ genesis: { kind: 'link', text: LINK }, passphrase: 'short' }])).toThrow('passphrase: expected 8 to 1024 characters, got 5')
    expect(() => parseSetupArguments([{ genesis: { kind: 'disk' } }])).toThrow('genesis.kind: expected "link" or "file", got "disk"')
    expect(() => parseSetupArguments([{ genesis: { kind: 'link', text: LINK }, dataDir: '/x' }])).toThrow('setup: unexpected field "dataDir"')
  })
})

describe('the chosen genesis file and the keychain', () => {
  let dir: string
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'microgrid-ipc-')) })
  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

  it('reads a genesis file as base64 with its name, and refuses empty, huge or missing ones', async () => {
    const file = join(dir, 'hillside.genesis')
    await writeFile(file, Uint8Array.from([1, 2, 3, 250]))
    expect(await readGenesisFile(file)).toEqual({ name: 'hillside.genesis', data: Buffer.from([1, 2, 3, 250]).toString('base64') })
    await writeFile(join(dir, 'empty'), '')
    await expect(readGenesisFile(join(dir, 'empty'))).rejects.toThrow(/empty/)
    await writeFile(join(dir, 'huge'), Buffer.alloc(64 * 1024 + 1))
    await expect(readGenesisFile(join(dir, 'huge'))).rejects.toThrow(GenesisFileError)
    await expect(readGenesisFile(join(dir, 'missing'))).rejects.toThrow(/cannot read missing \(ENOENT\)/)
    await expect(readGenesisFile(dir)).rejects.toThrow(/not a file/)
  })

  it('keeps the passphrase encrypted, and keeps nothing without a keychain', async () => {
    let available = true
    const cipher: SecretCipher = {
      isAvailable: async () => available,
      encrypt: async text => Uint8Array.from(Buffer.from(text).reverse()),
      decrypt: async data => { if (data[0] === 0) throw new Error('another keychain'); return Buffer.from(data).reverse().toString() }
    }
    const file = join(dir, 'keys', 'passphrase.bin')
    const store = keychainPassphraseStore(file, cipher)
    expect(await store.load()).toBeUndefined()
    await store.save('my passphrase')
    expect(await readFile(file, 'utf8')).toBe('esarhpssap ym')
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect(await store.load()).toBe('my passphrase')
    await writeFile(file, Uint8Array.from([0, 1, 2]))
    expect(await store.load()).toBeUndefined()
    await store.forget()
    expect(await store.load()).toBeUndefined()
    available = false
    expect(await store.available()).toBe(false)
    await expect(store.save('my passphrase')).rejects.toThrow(PassphraseStoreError)
    await expect(stat(file)).rejects.toThrow(/ENOENT/)
  })
})
