/**
 * The bundled main process, loaded by plain Node with a stand-in for the `electron` module (the binary
 * cannot run here): electron.ts wires the scheme, the sandbox, the window, the permission handlers, the
 * navigation guards and the IPC channels to the tested modules, and starts in 'setup-needed' on a new
 * data directory. The bundle is built as `npm run desktop` and `npm run dist` build it.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { build } from 'esbuild'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/** What the stand-in records (see FAKE_ELECTRON). */
interface Recorded {
  name: string
  paths: Record<string, string>
  sandbox: boolean
  privileged: Array<{ scheme: string, privileges: Record<string, boolean> }>
  protocolHandlers: Map<string, (request: Request) => Promise<Response>>
  ipc: Map<string, (event: unknown, ...args: unknown[]) => Promise<unknown>>
  windows: Array<{ options: { webPreferences: Record<string, unknown> }, url: string, webContents: { emit: (e: string, ...a: unknown[]) => void, openHandler: (d: { url: string }) => { action: string } } }>
  permissionRequest: (contents: unknown, permission: string, callback: (granted: boolean) => void, details: Record<string, unknown>) => void
  permissionCheck: (contents: unknown, permission: string, origin: string, details: Record<string, unknown>) => boolean
  opened: string[]
}

const FAKE_ELECTRON = `
const state = globalThis.__fakeElectron
class Emitter {
  constructor () { this.listeners = {} }
  on (e, f) { (this.listeners[e] ??= []).push(f); return this }
  once (e, f) { return this.on(e, f) }
  emit (e, ...a) { for (const f of this.listeners[e] ?? []) f(...a) }
}
export const app = new (class extends Emitter {
  enableSandbox () { state.sandbox = true }
  requestSingleInstanceLock () { return true }
  whenReady () { return Promise.resolve() }
  setName (name) { state.name = name }
  setPath (name, path) { state.paths[name] = path }
  getPath (name) { return state.paths[name] }
  quit () {}
})()
class Contents extends Emitter { setWindowOpenHandler (f) { this.openHandler = f } }
export class BrowserWindow extends Emitter {
  constructor (options) { super(); this.options = options; this.webContents = new Contents(); state.windows.push(this); app.emit('web-contents-created', {}, this.webContents) }
  loadURL (url) { this.url = url; return Promise.resolve() }
  show () {}
  isDestroyed () { return false }
  static getAllWindows () { return state.windows }
}
export const protocol = {
  registerSchemesAsPrivileged (schemes) { state.privileged.push(...schemes) },
  handle (scheme, handler) { state.protocolHandlers.set(scheme, handler) }
}
export const session = { defaultSession: {
  setPermissionRequestHandler (f) { state.permissionRequest = f },
  setPermissionCheckHandler (f) { state.permissionCheck = f }
} }
export const ipcMain = { handle (channel, f) { state.ipc.set(channel, f) } }
export const safeStorage = {
  isAsyncEncryptionAvailable: async () => true,
  getSelectedStorageBackend: () => 'gnome_libsecret',
  encryptStringAsync: async text => Buffer.from(text).reverse(),
  decryptStringAsync: async data => ({ result: Buffer.from(data).reverse().toString(), shouldReEncrypt: false })
}
export const shell = { openExternal: async url => { state.opened.push(url) } }
export const dialog = { showOpenDialog: async () => ({ canceled: true, filePaths: [] }) }
`

let dir: string
const recorded = {
  sandbox: false, privileged: [], protocolHandlers: new Map(), ipc: new Map(), windows: [], opened: []
} as unknown as Recorded

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'microgrid-bundle-'))
  recorded.paths = { appData: join(dir, 'appData') }
  await mkdir(join(dir, 'node_modules', 'electron'), { recursive: true })
  await writeFile(join(dir, 'node_modules', 'electron', 'package.json'), JSON.stringify({ name: 'electron', type: 'module', main: 'index.js' }))
  await writeFile(join(dir, 'node_modules', 'electron', 'index.js'), FAKE_ELECTRON)
  await mkdir(join(dir, 'renderer'))
  await writeFile(join(dir, 'renderer', 'index.html'), '<!doctype html><title>Microgrid</title>')
  await build({
    entryPoints: [join(import.meta.dirname, '..', 'src', 'main', 'electron.ts')],
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    outdir: join(dir, 'main'),
    entryNames: 'main',
    chunkNames: 'chunks/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    external: ['electron'],
    logLevel: 'warning',
    banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" }
  })
  ;(globalThis as { __fakeElectron?: Recorded }).__fakeElectron = recorded
  await import(pathToFileURL(join(dir, 'main', 'main.mjs')).href)
  // main() runs on: the node module loads, the handlers register, the window opens.
  for (let i = 0; i < 200 && recorded.windows.length === 0; i++) await new Promise(resolve => setTimeout(resolve, 25))
}, 60_000)

afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

const APP_FRAME = { senderFrame: { url: 'microgrid-app://app/index.html', parent: null } }

describe('the bundled main process', () => {
  it('registers the privileged scheme and the sandbox, and opens one locked-down window on the app', () => {
    expect(recorded.sandbox).toBe(true)
    expect(recorded.name).toBe('Microgrid')
    expect(recorded.paths.userData).toBe(join(dir, 'appData', 'Microgrid'))
    expect(recorded.privileged).toEqual([{ scheme: 'microgrid-app', privileges: expect.objectContaining({ standard: true, secure: true, supportFetchAPI: true }) }])
    expect(recorded.windows).toHaveLength(1)
    const win = recorded.windows[0] as Recorded['windows'][number]
    expect(win.url).toBe('microgrid-app://app/index.html')
    expect(win.options.webPreferences).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, webSecurity: true })
    expect(win.options.webPreferences.preload).toBe(join(dir, 'preload', 'preload.cjs'))
  })

  it('serves the UI from the renderer directory beside the bundle', async () => {
    const handler = recorded.protocolHandlers.get('microgrid-app')
    const res = await handler?.(new Request('microgrid-app://app/'))
    expect(res?.status).toBe(200)
    expect(res?.headers.get('content-security-policy')).toMatch(/^default-src 'self'/)
    expect(await res?.text()).toContain('<title>Microgrid</title>')
    expect((await handler?.(new Request('microgrid-app://app/api/v1/status')))?.status).toBe(503)
  })

  it('answers the app\'s IPC and refuses other senders', async () => {
    expect([...recorded.ipc.keys()].sort()).toEqual(['node:connection', 'node:state', 'node:unlock', 'setup:choose-genesis-file', 'setup:join-grid', 'shell:open-external'])
    const state = recorded.ipc.get('node:state')
    for (let i = 0; i < 100 && (await state?.(APP_FRAME) as { state: string }).state === 'starting'; i++) await new Promise(resolve => setTimeout(resolve, 20))
    expect(await state?.(APP_FRAME)).toEqual({ state: 'setup-needed', keychain: true })
    // Nothing written before the setup: no data directory, no passphrase.
    expect(await readdir(recorded.paths.userData as string).catch(() => [])).toEqual([])
    await expect(state?.({ senderFrame: { url: 'https://example.org/', parent: null } })).rejects.toThrow(/only the app's own page/)
    await expect(state?.({ senderFrame: { url: 'microgrid-app://app/index.html', parent: {} } })).rejects.toThrow(/only the app's own page/)
    await expect(recorded.ipc.get('setup:join-grid')?.(APP_FRAME, { genesis: { kind: 'path', path: '/etc/passwd' } })).rejects.toThrow(/genesis.kind/)
    expect(await recorded.ipc.get('setup:choose-genesis-file')?.(APP_FRAME)).toBeNull()
  })

  it('keeps the window on the app, sends web links to the browser, and grants the camera only', () => {
    const contents = (recorded.windows[0] as Recorded['windows'][number]).webContents
    const navigate = (url: string): boolean => {
      let prevented = false
      contents.emit('will-navigate', { url, preventDefault: () => { prevented = true } })
      return prevented
    }
    expect(navigate('https://example.org/')).toBe(true)
    expect(navigate('microgrid-app://app/#/resident')).toBe(false)
    expect(contents.openHandler({ url: 'https://example.org/help' })).toEqual({ action: 'deny' })
    expect(contents.openHandler({ url: 'file:///etc/passwd' })).toEqual({ action: 'deny' })
    expect(recorded.opened).toEqual(['https://example.org/help'])

    const decide = (permission: string, details: Record<string, unknown>): boolean => {
      let granted: boolean | undefined
      recorded.permissionRequest({}, permission, g => { granted = g }, details)
      return granted as boolean
    }
    expect(decide('media', { requestingUrl: 'microgrid-app://app/index.html', isMainFrame: true, mediaTypes: ['video'] })).toBe(true)
    expect(decide('media', { requestingUrl: 'microgrid-app://app/index.html', isMainFrame: true, mediaTypes: ['audio'] })).toBe(false)
    expect(decide('geolocation', { requestingUrl: 'microgrid-app://app/index.html', isMainFrame: true })).toBe(false)
    expect(recorded.permissionCheck({}, 'media', 'microgrid-app://app', { mediaType: 'video', isMainFrame: true })).toBe(true)
    expect(recorded.permissionCheck({}, 'notifications', 'microgrid-app://app', { isMainFrame: true })).toBe(false)
  })
})
