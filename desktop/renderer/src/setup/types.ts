// The part of the desktop app's preload API (desktop/src/preload/api.ts) that the first-run and
// unlock screens use. The renderer's tsconfig does not reach the preload's files, so the narrow types
// are declared here; test/ui-setup-contract.spec.tsx keeps them in step with CHANNELS and LIMITS.
import type { Connection } from '../data/connection.ts'

export type NodeState =
  | { state: 'starting' }
  | { state: 'ready', url: string, token: string, api: string, grid: string, peerId: string }
  | { state: 'setup-needed', keychain: boolean }
  | { state: 'locked', keychain: boolean, reason: string }
  | { state: 'failed', message: string }

export type GenesisSource =
  | { kind: 'link', text: string }
  | { kind: 'file', name: string, data: string }

export interface SetupRequest {
  genesis: GenesisSource
  invite?: string
  passphrase?: string
}

export interface ChosenFile { name: string, data: string }

export interface DesktopApi {
  connection: () => Promise<Connection>
  nodeState: () => Promise<NodeState>
  chooseGenesisFile: () => Promise<ChosenFile | null>
  setup: (request: SetupRequest) => Promise<NodeState>
  unlock: (passphrase: string) => Promise<NodeState>
  openExternal: (url: string) => Promise<boolean>
}

/** The preload's functions, one per channel (CHANNELS' keys). */
export const DESKTOP_API_FUNCTIONS = Object.freeze(['connection', 'nodeState', 'chooseGenesisFile', 'setup', 'unlock', 'openExternal'] as const)

/** The limits the main process checks (LIMITS in the preload's api.ts), checked here first for a clear message. */
export const LIMITS = Object.freeze({
  genesisBytes: 64 * 1024,
  linkChars: 96 * 1024,
  inviteChars: 4096,
  fileNameChars: 255,
  passphraseMin: 8,
  passphraseMax: 1024,
  urlChars: 2048
})

/** `window.microgrid` as the desktop app's preload defines it; undefined in a browser. */
export function desktopApi (win: Window = window): DesktopApi | undefined {
  return win.microgrid as DesktopApi | undefined
}
