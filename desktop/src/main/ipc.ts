/**
 * The main process's side of the preload's channels: one handler per channel, each checking its
 * arguments (api.ts) before it does anything, and the sender checked first — only the app's own page.
 * electron.ts registers them with ipcMain.handle.
 */
import {
  CHANNELS, IpcInputError, parseNoArguments, parseOpenExternalArguments, parseSetupArguments, parseUnlockArguments,
  type Channel, type ChosenFile
} from '../preload/api.ts'
import type { HouseholdNode } from './household-node.ts'
import { isSafeExternalUrl, isTrustedSender } from './security-policy.ts'

export interface IpcServices {
  node: HouseholdNode
  /** The system's open-file dialog, then readGenesisFile; null when cancelled. */
  chooseGenesisFile: () => Promise<ChosenFile | null>
  /** The system browser (Electron's shell.openExternal). */
  openExternal: (url: string) => Promise<void>
}

/** Who sent an IPC message: the URL of its frame and whether it is a window's main frame. */
export interface IpcSender {
  frameUrl: string | undefined
  isMainFrame: boolean
}

export class IpcSenderError extends Error {
  override readonly name = 'IpcSenderError'
}

export type IpcHandler = (sender: IpcSender, args: readonly unknown[]) => Promise<unknown>

export function ipcHandlers (services: IpcServices): ReadonlyMap<Channel, IpcHandler> {
  const handlers: Record<Channel, (args: readonly unknown[]) => Promise<unknown>> = {
    [CHANNELS.connection]: async args => { parseNoArguments(args); return await services.node.connection() },
    [CHANNELS.nodeState]: async args => { parseNoArguments(args); return services.node.state() },
    [CHANNELS.chooseGenesisFile]: async args => { parseNoArguments(args); return await services.chooseGenesisFile() },
    [CHANNELS.setup]: async args => await services.node.setup(parseSetupArguments(args)),
    [CHANNELS.unlock]: async args => await services.node.unlock(parseUnlockArguments(args)),
    [CHANNELS.openExternal]: async args => {
      const url = parseOpenExternalArguments(args)
      if (!isSafeExternalUrl(url)) return false
      await services.openExternal(url)
      return true
    }
  }
  return new Map(Object.entries(handlers).map(([channel, handle]) => [channel as Channel, async (sender: IpcSender, args: readonly unknown[]) => {
    if (!isTrustedSender(sender.frameUrl, sender.isMainFrame)) {
      throw new IpcSenderError(`${channel}: refused a message from ${JSON.stringify(String(sender.frameUrl).slice(0, 100))}: only the app's own page may call it`)
    }
    return await handle(args)
  }]))
}

export { IpcInputError }
