/**
 * Equivocation: two different ops with the same author and seq. Which ops survive depends only on the
 * set of ops, never on arrival order: along each chain, from seq 0 up, the candidates at a seq are the
 * ops whose prev is the surviving op one below; the candidate with the lowest id survives. Every other
 * op of that author is void. From the first fork not lifted by a registrar's `unfreeze`, the author is
 * frozen: no later op of theirs applies.
 */
import { compareBytes, toHex } from '@microgrid/protocol'

export interface ChainHeader {
  author: string
  seq: number
  prev: Uint8Array | null
  id: Uint8Array
}

export interface Equivocation {
  /** Author key, hex. */
  author: string
  seq: number
  /** Ids (hex) of every op seen at that position, the surviving one first. */
  ids: string[]
}

export interface ForkResolution {
  /** Ids (hex) of ops on a losing branch. */
  void: Set<string>
  /** author hex -> the seq of its first unlifted fork: ops above it are frozen. */
  frozenFrom: Map<string, number>
  equivocations: Equivocation[]
}

/** `pardons` holds `${authorHex}:${seq}` for every fork a registrar lifted. */
export function resolveForks (headers: Iterable<ChainHeader>, pardons: ReadonlySet<string>): ForkResolution {
  const byAuthor = new Map<string, Map<number, ChainHeader[]>>()
  for (const h of headers) {
    let chain = byAuthor.get(h.author)
    if (chain === undefined) byAuthor.set(h.author, chain = new Map())
    const slot = chain.get(h.seq)
    if (slot === undefined) chain.set(h.seq, [h])
    else if (!slot.some(o => compareBytes(o.id, h.id) === 0)) slot.push(h)
  }
  const result: ForkResolution = { void: new Set(), frozenFrom: new Map(), equivocations: [] }
  for (const [author, chain] of byAuthor) {
    if (![...chain.values()].some(slot => slot.length > 1)) continue
    const seqs = [...chain.keys()].sort((a, b) => a - b)
    const survivors = new Set<string>()
    let prevId: Uint8Array | null = null
    let expected = 0
    for (const seq of seqs) {
      const slot = (chain.get(seq) as ChainHeader[]).slice().sort((a, b) => compareBytes(a.id, b.id))
      const candidates = seq === expected
        ? slot.filter(h => seq === 0 ? h.prev === null : h.prev !== null && prevId !== null && compareBytes(h.prev, prevId) === 0)
        : []
      const winner = candidates[0]
      if (slot.length > 1) {
        const ordered = winner === undefined ? slot : [winner, ...slot.filter(h => h !== winner)]
        result.equivocations.push({ author, seq, ids: ordered.map(h => toHex(h.id)) })
        if (!result.frozenFrom.has(author) && !pardons.has(`${author}:${seq}`)) result.frozenFrom.set(author, seq)
      }
      if (winner !== undefined) {
        survivors.add(toHex(winner.id))
        prevId = winner.id
        expected = seq + 1
      }
    }
    for (const slot of chain.values()) for (const h of slot) if (!survivors.has(toHex(h.id))) result.void.add(toHex(h.id))
  }
  return result
}
