/**
 * Equivocation: two different ops of one author at one seq, both naming the surviving op below as prev.
 * Which ops stand depends only on the set of ops, never on arrival order: from seq 0 up, the
 * candidates at a seq are the ops whose prev is the surviving op one below and whose causal past is
 * here; the lowest id among them survives. An op whose prev is not the surviving op is void (an
 * orphan: the rest of a losing branch is not a new fork). From the first fork a registrar has not
 * lifted, the author is frozen. Above an undecided position nothing is decided: the ops there wait.
 * `LedgerState` applies this incrementally (`#fork`) and decides a chain again when a lower id
 * arrives late (`rewind`).
 */

export interface Equivocation {
  /** Author key, hex. */
  author: string
  seq: number
  /** Ids (hex) of the candidates at that position, the surviving one first (ascending). */
  ids: string[]
}

