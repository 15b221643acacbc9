/**
 * The preload of the app's window (sandboxed, context-isolated): `window.microgrid`, one named
 * function per IPC channel and nothing else — the renderer never sees ipcRenderer itself.
 */
import { contextBridge, ipcRenderer } from 'electron'
import { CHANNELS, type MicrogridDesktopApi } from './api.ts'

const api = {
  connection: async () => await ipcRenderer.invoke(CHANNELS.connection),
  nodeState: async () => await ipcRenderer.invoke(CHANNELS.nodeState),
  chooseGenesisFile: async () => await ipcRenderer.invoke(CHANNELS.chooseGenesisFile),
  setup: async request => await ipcRenderer.invoke(CHANNELS.setup, request),
  unlock: async passphrase => await ipcRenderer.invoke(CHANNELS.unlock, passphrase),
  openExternal: async url => await ipcRenderer.invoke(CHANNELS.openExternal, url)
} satisfies MicrogridDesktopApi

contextBridge.exposeInMainWorld('microgrid', api)
