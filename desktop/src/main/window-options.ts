/**
 * The options of the app's window. The renderer gets no Node.js and no Electron: it is sandboxed,
 * context-isolated, and talks to the main process only through the preload's `window.microgrid`.
 */

/** The subset of Electron's BrowserWindowConstructorOptions the app sets (electron.ts checks it against the real type). */
export interface AppWindowOptions {
  title: string
  width: number
  height: number
  minWidth: number
  minHeight: number
  show: boolean
  backgroundColor: string
  autoHideMenuBar: boolean
  icon?: string
  webPreferences: {
    preload: string
    contextIsolation: true
    sandbox: true
    nodeIntegration: false
    nodeIntegrationInWorker: false
    nodeIntegrationInSubFrames: false
    webSecurity: true
    allowRunningInsecureContent: false
    webviewTag: false
    experimentalFeatures: false
    navigateOnDragDrop: false
    safeDialogs: true
    spellcheck: false
  }
}

export interface AppWindowInit {
  /** Absolute path of the bundled preload script. */
  preload: string
  icon?: string
}

export function appWindowOptions (init: AppWindowInit): AppWindowOptions {
  if (typeof init.preload !== 'string' || !/^(\/|[A-Za-z]:[\\/]|\\\\)/.test(init.preload)) {
    throw new TypeError(`appWindowOptions: preload must be an absolute path, got ${JSON.stringify(init.preload)}`)
  }
  return {
    title: 'Microgrid',
    width: 1280,
    height: 820,
    minWidth: 800,
    minHeight: 560,
    // Shown once the first paint is ready (no white flash).
    show: false,
    backgroundColor: '#0f172a',
    autoHideMenuBar: true,
    ...(init.icon !== undefined ? { icon: init.icon } : {}),
    webPreferences: {
      preload: init.preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      experimentalFeatures: false,
      navigateOnDragDrop: false,
      safeDialogs: true,
      spellcheck: false
    }
  }
}
