/**
 * Sync progress for `microgrid start`: while ops pour in faster than gossip brings them (a history being
 * pulled from peers), a progress line on stderr — redrawn in place on a terminal, plain lines every few
 * seconds otherwise — then one line saying what was synced.
 *
 * The line shows the ops received, their rate and the ledger's decided count; with a `target` (start
 * passes the node's `syncTarget()`: how many ops the serving peers said were left when their pulls
 * began) it is a bar with a percentage. A peer that does not say shows activity only.
 */
import type { MicrogridNode } from '../node.ts'

export interface SyncProgressOptions {
  /** Redraw one line in place (a terminal), or print plain lines. */
  tty: boolean
  /** Raw text to stderr (for the TTY redraw). */
  write: (text: string) => void
  /** A whole line to stderr. */
  line: (line: string) => void
  /** Ops per second above which the node counts as syncing; default 200. */
  rate?: number
  /** How long without ops ends a sync, ms; default 1,500. */
  idleMs?: number
  /** Plain lines at most this often, ms; default 2,000. */
  plainEveryMs?: number
  /** The decided count the node is syncing towards, when known. */
  target?: () => number | undefined
  now?: () => number
}

export interface SyncProgress {
  /** Syncs shown so far. */
  readonly syncs: number
  /** Clears the bar's line so that another line can be printed (the next tick redraws it). */
  clear: () => void
  stop: () => void
}

const TICK_MS = 250
const WIDTH = 24
const fmt = (n: number): string => n.toLocaleString('en-US')

export function syncProgress (node: MicrogridNode, options: SyncProgressOptions): SyncProgress {
  const now = options.now ?? Date.now
  const rate = options.rate ?? 200
  const idleMs = options.idleMs ?? 1_500
  const plainEvery = options.plainEveryMs ?? 2_000
  let count = 0
  let lastOpAt = 0
  let lastTick = { at: now(), count: 0 }
  let sync: { start: number, from: number, printed: number, frame: number } | undefined
  let syncs = 0
  let drawn = false

  const offOp = node.on('op', r => {
    if (r.status === 'duplicate' || r.status === 'invalid') return
    count++
    lastOpAt = now()
  })

  const describe = (): string => {
    const s = sync as NonNullable<typeof sync>
    const received = count - s.from
    const secs = Math.max(0.001, (now() - s.start) / 1000)
    const decided = node.ledger.state.decidedCount
    const target = options.target?.()
    return `${fmt(received)} ops received, ${fmt(Math.round(received / secs))} ops/s, ${fmt(decided)} decided${target !== undefined ? ` of ${fmt(target)}` : ''}`
  }
  const bar = (): string => {
    const s = sync as NonNullable<typeof sync>
    const target = options.target?.()
    if (target !== undefined && target > 0) {
      const done = Math.min(1, node.ledger.state.decidedCount / target)
      const full = Math.round(done * WIDTH)
      return `[${'█'.repeat(full)}${'░'.repeat(WIDTH - full)}] ${(done * 100).toFixed(0).padStart(3)}%`
    }
    // No total known: a block sweeping back and forth shows it is working.
    const span = WIDTH - 6
    const pos = s.frame % (2 * span)
    const at = pos < span ? pos : 2 * span - pos
    return `[${'░'.repeat(at)}${'█'.repeat(6)}${'░'.repeat(WIDTH - 6 - at)}]`
  }
  const clear = (): void => { if (drawn) { options.write('\r\x1b[2K'); drawn = false } }

  const tick = (): void => {
    const t = now()
    const delta = count - lastTick.count
    const perSec = delta * 1000 / Math.max(1, t - lastTick.at)
    if (sync === undefined && perSec >= rate) {
      sync = { start: lastTick.at, from: lastTick.count, printed: 0, frame: 0 }
      syncs++
    }
    lastTick = { at: t, count }
    if (sync === undefined) return
    if (t - lastOpAt >= idleMs) {
      const received = count - sync.from
      const secs = (lastOpAt - sync.start) / 1000
      clear()
      options.line(`synced    ${fmt(received)} ops in ${secs.toFixed(1)} s; ${fmt(node.ledger.state.decidedCount)} decided, ${fmt(node.ledger.state.pendingCount)} pending, state ${node.stateHash().slice(0, 16)}`)
      sync = undefined
      return
    }
    sync.frame++
    if (options.tty) {
      options.write(`\r\x1b[2Ksyncing   ${bar()} ${describe()}`)
      drawn = true
    } else if (t - sync.printed >= plainEvery) {
      sync.printed = t
      options.line(`syncing   ${describe()}`)
    }
  }
  const timer = setInterval(tick, TICK_MS)
  timer.unref()
  return {
    get syncs () { return syncs },
    clear,
    stop: () => {
      clearInterval(timer)
      offOp()
      clear()
    }
  }
}
