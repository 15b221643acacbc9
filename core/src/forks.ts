/**
 * Equivocation: two different ops of one author at one seq, both naming the surviving op below as prev.
 * Which ops stand depends only on the author's ops, never on arrival order: from seq 0 up, the
 * candidates at a seq are the ops whose prev is the surviving op one below; the lowest id survives.
 * An op whose prev is not the surviving op is void (an orphan: the rest of a losing branch is not a
 * new fork). From the first fork a registrar has not lifted, the author is frozen. Above a missing
 * position nothing is decided: the ops there wait.
 */
import { bytesEqual, compareBytes, toHex, type DecodedOp } from '@microgrid/protocol'

export interface Equivocation {
  /** Author key, hex. */
  author: string
  seq: number
  /** Ids (hex) of the candidates at that position, the surviving one first (ascending). */
  ids: string[]
}

export interface ChainResolution {
  /** The surviving ops from `start` up, without a gap. */
  line: DecodedOp[]
  /** The seq of the first fork not lifted, or +∞. */
  frozenFrom: number
  forks: Array<{ seq: number, ids: string[] }>
  /** Losing candidates and orphans. */
  voids: DecodedOp[]
  /** Ops above the first missing position: they wait for it. */
  waiting: DecodedOp[]
}

/**
 * Resolves one author's ops (any order; duplicates by id ignored). `base` is the id of the op at
 * `start − 1` when the chain's first ops are fixed (the genesis author's seq 0), else null with start 0.
 */
export function resolveChain (ops: Iterable<DecodedOp>, start: number, base: Uint8Array | null, pardoned: (seq: number) => boolean): ChainResolution {
  const bySeq = new Map<number, DecodedOp[]>()
  const result: ChainResolution = { line: [], frozenFrom: Number.POSITIVE_INFINITY, forks: [], voids: [], waiting: [] }
  for (const d of ops) {
    if (d.op.seq < start) { result.voids.push(d); continue }
    const slot = bySeq.get(d.op.seq)
    if (slot === undefined) bySeq.set(d.op.seq, [d])
    else if (!slot.some(o => bytesEqual(o.id, d.id))) slot.push(d)
  }
  let prev = base
  let s = start
  for (;; s++) {
    const slot = bySeq.get(s)
    if (slot === undefined) break
    bySeq.delete(s)
    const candidates = slot.filter(o => s === 0 ? o.op.prev === null : o.op.prev !== null && prev !== null && bytesEqual(o.op.prev, prev))
    for (const o of slot) if (!candidates.includes(o)) result.voids.push(o)
    if (candidates.length === 0) break
    candidates.sort((a, b) => compareBytes(a.id, b.id))
    const winner = candidates[0] as DecodedOp
    if (candidates.length > 1) {
      result.forks.push({ seq: s, ids: candidates.map(c => toHex(c.id)) })
      for (const loser of candidates.slice(1)) result.voids.push(loser)
      if (!Number.isFinite(result.frozenFrom) && !pardoned(s)) result.frozenFrom = s
    }
    result.line.push(winner)
    prev = winner.id
  }
  for (const slot of bySeq.values()) result.waiting.push(...slot)
  result.waiting.sort((a, b) => a.op.seq - b.op.seq)
  return result
}
