/**
 * The sync progress `microgrid start` shows: a bar redrawn in place on a terminal, plain lines
 * otherwise, only while ops pour in faster than gossip brings them, and one line when the sync ends.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { IngestResult } from '@microgrid/core'
import type { MicrogridNode } from '../src/node.ts'
import { syncProgress } from '../src/cli/progress.ts'

/** Just what the progress reads of a node: op events and the ledger's counts. */
function fakeNode (): { node: MicrogridNode, ops: (n: number) => void } {
  const listeners: Array<(r: IngestResult) => void> = []
  const state = { decidedCount: 0, pendingCount: 0 }
  const node = {
    on: (_event: string, l: (r: IngestResult) => void) => { listeners.push(l); return () => { listeners.splice(listeners.indexOf(l), 1) } },
    ledger: { state },
    stateHash: () => 'ab'.repeat(32)
  } as unknown as MicrogridNode
  return {
    node,
    ops: n => { for (let i = 0; i < n; i++) { state.decidedCount++; for (const l of listeners) l({ status: 'applied' } as IngestResult) } }
  }
}

afterEach(() => { vi.useRealTimers() })

describe('sync progress', () => {
  it('on a terminal: a bar redrawn in place while syncing, then one line; nothing for a trickle of gossip', () => {
    vi.useFakeTimers()
    const { node, ops } = fakeNode()
    const written: string[] = []
    const lines: string[] = []
    const p = syncProgress(node, { tty: true, write: t => written.push(t), line: l => lines.push(l), now: () => Date.now() })
    // Gossip: a few ops a second never shows anything.
    for (let i = 0; i < 8; i++) { ops(2); vi.advanceTimersByTime(500) }
    expect(written).toEqual([])
    expect(lines).toEqual([])
    // A history pulled: thousands of ops a second.
    for (let i = 0; i < 8; i++) { ops(500); vi.advanceTimersByTime(250) }
    expect(written.length).toBeGreaterThan(3)
    expect(written.at(-1)).toMatch(/^\r\x1b\[2Ksyncing +\[[░█]{24}\] [\d,]+ ops received, [\d,]+ ops\/s, 4,016 decided$/)
    vi.advanceTimersByTime(2_000)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^synced +4,\d{3} ops in [\d.]+ s; 4,016 decided, 0 pending, state abababab/)
    expect(written.at(-1)).toBe('\r\x1b[2K') // the bar's line cleared before it
    expect(p.syncs).toBe(1)
    p.stop()
  })

  it('with a known target: a bar with a percentage; without a terminal: plain lines every 2 s', () => {
    vi.useFakeTimers()
    const { node, ops } = fakeNode()
    const written: string[] = []
    const p = syncProgress(node, { tty: true, write: t => written.push(t), line: () => {}, target: () => 2_000 })
    ops(1_000)
    vi.advanceTimersByTime(500)
    expect(written.at(-1)).toMatch(/\[█{12}░{12}\] {2}50% 1,000 ops received, .* 1,000 decided of 2,000$/)
    p.stop()

    const plain = fakeNode()
    const lines: string[] = []
    const q = syncProgress(plain.node, { tty: false, write: () => { throw new Error('no redraw without a terminal') }, line: l => lines.push(l) })
    for (let i = 0; i < 20; i++) { plain.ops(300); vi.advanceTimersByTime(250) }
    vi.advanceTimersByTime(2_000)
    expect(lines.filter(l => l.startsWith('syncing'))).toHaveLength(3)
    expect(lines.at(-1)).toMatch(/^synced +6,000 ops in/)
    q.stop()
  })
})
