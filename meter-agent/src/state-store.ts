/**
 * The agent's state file: the pulse counter, the energy already put into signed ops, the last op it
 * signed and the signed ops no node has acknowledged yet. Written atomically (a temp file, fsync,
 * rename, fsync of the directory), so after a power cut it holds either the old or the new state,
 * never half of one. The agent writes it before it signs an op, and otherwise at most every few
 * seconds (an SD card wears out with every write).
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises'
import { join } from 'node:path'

export interface SignedRecord {
  /** Wire bytes, hex. */
  bytes: string
  seq: number
  wh: number
}

export interface MeterState {
  version: 1
  /** Pulses counted (debounced and plausible), since the state file was made. */
  pulses: number
  /** Energy (Wh) put into signed ops, or set aside (see `droppedWh`): what is left is the backlog to sign. */
  signedWh: number
  /** Energy in ops the ledger applied. */
  appliedWh: number
  /** Energy dropped because the ledger held ops of this key this state never signed (a restored state). */
  droppedWh: number
  /** The last op this agent signed. */
  last: { seq: number, id: string, total: number, ts: number } | null
  /** Signed ops not yet acknowledged by a node, in seq order. */
  unacked: SignedRecord[]
  /** The latest funds view learned (consumption meters), with the applied energy it reflects. */
  funds: { view: unknown, appliedAtView: number, fetchedAt: number } | null
  /** Recent use, for the days-remaining estimate. */
  usage: unknown
}

export class StateFileError extends Error {
  override readonly name = 'StateFileError'
}

const FILE = 'meter-state.json'

export function emptyState (): MeterState {
  return { version: 1, pulses: 0, signedWh: 0, appliedWh: 0, droppedWh: 0, last: null, unacked: [], funds: null, usage: null }
}

export class StateStore {
  readonly dir: string
  readonly file: string
  state: MeterState
  #writing: Promise<void> = Promise.resolve()
  /** How many times the file was written (the SD card's wear). */
  writes = 0

  private constructor (dir: string, state: MeterState) {
    this.dir = dir
    this.file = join(dir, FILE)
    this.state = state
  }

  static async open (dir: string): Promise<StateStore> {
    await mkdir(dir, { recursive: true })
    let text: string | undefined
    try {
      text = await readFile(join(dir, FILE), 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new StateFileError(`${join(dir, FILE)}: ${(err as Error).message}`)
    }
    if (text === undefined) return new StateStore(dir, emptyState())
    let state: MeterState
    try {
      state = JSON.parse(text) as MeterState
    } catch (err) {
      throw new StateFileError(`${join(dir, FILE)}: not JSON (${(err as Error).message}); the agent will not guess its counter`)
    }
    if (state.version !== 1 || !Number.isSafeInteger(state.pulses) || !Array.isArray(state.unacked)) throw new StateFileError(`${join(dir, FILE)}: not a meter state file of version 1`)
    return new StateStore(dir, { ...emptyState(), ...state })
  }

  /** Writes the state as it is now; writes queue, each one whole. Resolves once it is on disk. */
  async save (): Promise<void> {
    const text = JSON.stringify(this.state)
    const run = this.#writing.then(async () => await this.#write(text))
    this.#writing = run.catch(() => {})
    await run
  }

  async #write (text: string): Promise<void> {
    const tmp = `${this.file}.tmp`
    const fh = await open(tmp, 'w', 0o600)
    try {
      await fh.writeFile(text)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, this.file)
    const dir = await open(this.dir, 'r')
    try {
      await dir.sync()
    } finally {
      await dir.close()
    }
    this.writes++
  }
}
