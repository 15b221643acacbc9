/**
 * @microgrid/desktop: the household app. Its main process lives in src/main (bundled, never imported),
 * its UI in renderer/. What the UI may import from here: the preload's contract, `window.microgrid`.
 */
export {
  CHANNELS, LIMITS, IpcInputError,
  type Channel, type ChosenFile, type Connection, type GenesisSource, type MicrogridDesktopApi, type NodeState, type SetupRequest
} from './preload/api.ts'
