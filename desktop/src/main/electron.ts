/**
 * The Electron main process: the one file that imports electron. It wires Electron's objects to the
 * plain modules beside it, which hold every decision and are tested without Electron:
 *
 *   app-scheme.ts, app-protocol.ts   microgrid-app://app/: the built UI, and /api/ forwarded to the node
 *   security-policy.ts               navigation, new windows, permissions, IPC senders
 *   window-options.ts                the window's webPreferences
 *   household-node.ts                the node: setup, unlock, start and stop (the CLI's own code)
 *   passphrase-store.ts              the keys' passphrase in the OS keychain (safeStorage)
 *   ipc.ts                           the preload's channels
 *
 * Bundled to desktop/dist/main/main.mjs by the root scripts `npm run desktop` (which then launches it) and
 * `npm run dist` (which packages it); the UI is desktop/dist/renderer.
 */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  app, BrowserWindow, dialog, ipcMain, protocol, safeStorage, session, shell,
  type BrowserWindowConstructorOptions, type WebContents
} from 'electron'
import { appProtocolHandler } from './app-protocol.ts'
import { APP_ENTRY, APP_SCHEME, APP_SCHEME_PRIVILEGES } from './app-scheme.ts'
import { readGenesisFile } from './genesis-file.ts'
import type { HouseholdNode } from './household-node.ts'
import { ipcHandlers } from './ipc.ts'
import { keychainPassphraseStore, type SecretCipher } from './passphrase-store.ts'
import { allowPermissionCheck, allowPermissionRequest, mayNavigate, windowOpenDecision } from './security-policy.ts'
import { appWindowOptions } from './window-options.ts'

const here = dirname(fileURLToPath(import.meta.url))
/** desktop/dist/main/main.mjs → desktop/dist/renderer and desktop/dist/preload. */
const rendererDir = join(here, '..', 'renderer')
const preloadFile = join(here, '..', 'preload', 'preload.cjs')

// The same data folder in development (`electron main.mjs` would be named "Electron") as packaged.
app.setName('Microgrid')
app.setPath('userData', join(app.getPath('appData'), 'Microgrid'))
protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { ...APP_SCHEME_PRIVILEGES } }])
app.enableSandbox()

/** The keychain through safeStorage; Linux's 'basic_text' fallback (a fixed key) does not count as one. */
const keychain: SecretCipher = {
  isAvailable: async () => await safeStorage.isAsyncEncryptionAvailable() &&
    (process.platform !== 'linux' || safeStorage.getSelectedStorageBackend() !== 'basic_text'),
  encrypt: async text => await safeStorage.encryptStringAsync(text),
  decrypt: async data => (await safeStorage.decryptStringAsync(Buffer.from(data))).result
}

function guardContents (contents: WebContents): void {
  contents.on('will-navigate', event => { if (!mayNavigate(event.url)) event.preventDefault() })
  contents.on('will-redirect', event => { if (!mayNavigate(event.url)) event.preventDefault() })
  contents.on('will-attach-webview', event => { event.preventDefault() })
  contents.setWindowOpenHandler(({ url }) => {
    const decision = windowOpenDecision(url)
    if ('openExternally' in decision) void shell.openExternal(decision.openExternally)
    return { action: 'deny' }
  })
}

function createWindow (): BrowserWindow {
  const options = appWindowOptions({ preload: preloadFile }) satisfies BrowserWindowConstructorOptions
  const win = new BrowserWindow(options)
  win.once('ready-to-show', () => win.show())
  void win.loadURL(APP_ENTRY)
  return win
}

async function main (): Promise<void> {
  if (!app.requestSingleInstanceLock()) {
    // One app per data directory: the running one comes to the front instead.
    app.quit()
    return
  }
  await app.whenReady()
  const dataDir = join(app.getPath('userData'), 'node')
  // Loaded apart (its own chunk in the bundle): the window need not wait for the node's code, and the
  // CLI module inside it does not take the bundle's entry for its own program file (it would run).
  const { householdNode, PASSPHRASE_ENV } = await import('./household-node.ts')
  // The app gives the keys' passphrase itself (keychain or the user), never the environment.
  delete process.env[PASSPHRASE_ENV]
  const node: HouseholdNode = householdNode({
    dataDir,
    passphrases: keychainPassphraseStore(join(app.getPath('userData'), 'node-passphrase.bin'), keychain),
    log: line => { process.stderr.write(`microgrid: ${line}\n`) }
  })

  protocol.handle(APP_SCHEME, appProtocolHandler({ rendererDir, apiUrl: () => node.apiUrl() }))
  const ses = session.defaultSession
  ses.setPermissionRequestHandler((_contents, permission, callback, details) => {
    callback(allowPermissionRequest({
      permission,
      requestingUrl: details.requestingUrl,
      isMainFrame: details.isMainFrame,
      mediaTypes: 'mediaTypes' in details ? details.mediaTypes : undefined
    }))
  })
  ses.setPermissionCheckHandler((_contents, permission, requestingOrigin, details) =>
    allowPermissionCheck({ permission, requestingOrigin, mediaType: details.mediaType, isMainFrame: details.isMainFrame }))
  app.on('web-contents-created', (_event, contents) => guardContents(contents))

  let win: BrowserWindow | undefined
  const handlers = ipcHandlers({
    node,
    chooseGenesisFile: async () => {
      const options = { title: 'The grid\'s genesis file', properties: ['openFile' as const] }
      const picked = win !== undefined ? await dialog.showOpenDialog(win, options) : await dialog.showOpenDialog(options)
      const path = picked.filePaths[0]
      return picked.canceled || path === undefined ? null : await readGenesisFile(path)
    },
    openExternal: async url => { await shell.openExternal(url) }
  })
  for (const [channel, handle] of handlers) {
    ipcMain.handle(channel, async (event, ...args: unknown[]) =>
      await handle({ frameUrl: event.senderFrame?.url, isMainFrame: event.senderFrame != null && event.senderFrame.parent === null }, args))
  }

  win = createWindow()
  app.on('second-instance', () => {
    if (win === undefined || win.isDestroyed()) return
    if (win.isMinimized()) win.restore()
    win.focus()
  })
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) win = createWindow()
  })
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit()
  })
  let stopped = false
  app.on('before-quit', event => {
    if (stopped) return
    // The node closes its ledger before the app exits.
    event.preventDefault()
    stopped = true
    node.stop().catch(err => { process.stderr.write(`microgrid: stopping the node: ${(err as Error).message}\n`) }).finally(() => app.quit())
  })
  void node.open().catch(err => { process.stderr.write(`microgrid: ${(err as Error).message}\n`) })
}

void main()
