/**
 * Snapshots: a state restored from its snapshot, then given more ops, must be indistinguishable from
 * the state that never stopped (state hash, every op's verdict, what pending ops wait for, frozen and
 * void ops, forks and unfreezes, decision order), and a Ledger must open from its snapshot plus journal
 * without touching the ops it covers; a fork or an unfreeze in the journal does not refuse the
 * snapshot: the ledger opens from it and decides again only the chains they touch, read back from storage.
 */
import { describe, expect, it } from 'vitest'
import {
  compareBytes, decodeOp, keySigner, signOp, toHex,
  type DecodedOp, type OpId, type OpSigner, type UnsignedOp
} from '@microgrid/protocol'
import {
  Chain, decodeSnapshot, draftOp, encodeSnapshot, JOURNAL_PREFIX, journalKey, Ledger, LedgerState, MemoryStorage,
  nativeSigner, opKey, Snapshot, SNAPSHOT_FORMAT, SNAPSHOT_KEY, SnapshotError, stateHash,
  type AddResult, type ChainView, type IngestResult, type StorageEntry, type StorageKey
} from '@microgrid/core'
import { Island, seededRandom, WHOLESALE_PRICE } from '@microgrid/core/testing'

const signerFor = (sk: Uint8Array): OpSigner => nativeSigner(sk) ?? keySigner(sk)
const trusted = { name: 'trusted', verify: () => true }

// ---------------------------------------------------------------------------------------------------
// Histories

/** A realistic history with rule-breaking attempts mixed in (rejected ops), funding windows included. */
function history (seed: number, ops: number): Island {
  const isl = new Island({ seed: `snap-${seed}`, producers: 2, households: 3, streetLights: 2, residents: 4, signerFor })
  const random = seededRandom(seed)
  while (isl.ops.length < ops) {
    isl.simulate(isl.ops.length + 30, random)
    const r = isl.residents[Math.floor(random() * isl.residents.length)]!
    const d = isl.devices[Math.floor(random() * isl.devices.length)]!
    switch (Math.floor(random() * 4)) {
      case 0: isl.fund(r, d, isl.state.balance(r.publicKey) + 1 + Math.floor(random() * 5_000)); break // insufficient-funds
      case 1: { // over-burn
        const wh = isl.state.balance(d.meter.publicKey) + 1 + Math.floor(random() * 1_000)
        isl.emit(d.meter, 'burn', { wh, total: (isl.state.chain(d.meter.publicKey).reading ?? 0) + wh })
        break
      }
      case 2: isl.emit(d.meter, 'transfer', { contract: 'resident', to: isl.devices[0]!.meter.publicKey, wh: 1, receipt: null, window: null }); break // consumer-burn-only (or self-transfer)
      default: if (isl.state.balance(r.publicKey) > 2_000) isl.fund(r, d, 1_000, { from: isl.clock.now() - 3_600_000, until: isl.clock.now() + 60_000 }) // a window that lapses soon
    }
  }
  // Every op the authoring replica holds is in the history, and every op of it is decided.
  expect(isl.state.pendingCount).toBe(0)
  expect(stateHash(replay(isl))).toBe(stateHash(isl.state))
  return isl
}

function replay (isl: Island): LedgerState {
  const state = new LedgerState(decodeOp(isl.genesis))
  for (const b of isl.ops) state.add(decodeOp(b))
  return state
}

/** The same island twice: deterministic keys, clock and signatures give byte-identical histories. */
function twin (): Island {
  const isl = new Island({ seed: 'snap-fork', producers: 1, households: 3, streetLights: 1, residents: 2, signerFor })
  const p = isl.producers[0]!
  for (let i = 0; i < 40; i++) isl.mint(p)
  isl.sellWholesale(p, 40 * WHOLESALE_PRICE / 1_000)
  isl.sellRetail(isl.residents[0]!, 250) // 20 kWh
  return isl
}

interface Forked {
  a: Island
  /** The ops island a signed (up to the second fork), and those island b signed after the two split. */
  aOps: Uint8Array[]
  extraB: Uint8Array[]
  /** The seq of resident 0's fork, and its two ops there: the lower id survives. */
  forkSeq: number
  winner: OpId
  loser: OpId
  /** Resident 0's op at forkSeq + 1 on the surviving branch (frozen until the fork is lifted). */
  next: OpId
  /**
   * A second fork of resident 0, on the surviving branch at forkSeq + 2 (two ops naming the same prev),
   * and one more op above it on the side the island kept: `other`, `kept`, `top`.
   */
  second: Uint8Array[]
  secondIds: { other: OpId, kept: OpId, top: OpId }
  /** A registrar's unfreeze of resident 0's fork at `seq`, signed on island a. */
  unfreeze: (seq: number) => Uint8Array
}

/**
 * Resident 0 spends its 20 kWh twice (device 0 on island a, device 1 on island b), and both sides go
 * on: the resident signs on from its own branch on each side (the rest of the losing branch is void,
 * not a fork), side b's device burns what its branch gave it, and side a grows a history that touches
 * neither.
 */
function forked (): Forked {
  const a = twin()
  const b = twin()
  expect(a.ops.map(toHex)).toEqual(b.ops.map(toHex))
  const base = a.ops.length
  const r = a.residents[0]!
  const forkSeq = a.state.chain(r.publicKey).length
  const fund = (isl: Island, device: number): OpId => {
    const result = isl.fund(isl.residents[0]!, isl.devices[device]!, 15_000)
    expect(result.status).toBe('applied')
    return result.id
  }
  const idA = fund(a, 0)
  const idB = fund(b, 1)
  a.burn(a.devices[0]!, 1_000)
  const nextA = a.fund(r, a.devices[2]!, 1_000).id
  b.burn(b.devices[1]!, 1_000)
  const nextB = b.fund(b.residents[0]!, b.devices[1]!, 1_000).id
  const p = a.producers[0]!
  for (let i = 0; i < 20; i++) a.mint(p)
  a.sellRetail(a.residents[1]!, 100)
  a.fund(a.residents[1]!, a.devices[2]!, 3_000, { from: a.clock.now(), until: a.clock.now() + 3_600_000 })
  a.burn(a.devices[2]!, 2_000)
  const aOps = a.ops.slice()
  const extraB = b.ops.slice(base)
  const [winner, loser] = compareBytes(idA, idB) < 0 ? [idA, idB] : [idB, idA]
  // The second fork, signed on the side whose branch survives: one op signed and not kept (the
  // island's replica never sees it), then the one it keeps at the same seq, and one more on top.
  const w = winner === idA ? a : b
  const wr = w.residents[0]!
  w.clock.advance(1_000)
  const other = signOp(draftOp(w.state, wr.publicKey, 'transfer', { contract: 'resident', to: w.devices[2]!.meter.publicKey, wh: 500, receipt: null, window: null }, w.clock) as UnsignedOp, wr).bytes
  const kept = w.fund(wr, w.devices[1]!, 1_000)
  expect(kept.status).toBe('applied') // each island holds only its own branch
  const top = w.fund(wr, w.devices[1]!, 1_000)
  return {
    a, aOps, extraB, forkSeq, winner, loser,
    next: winner === idA ? nextA : nextB,
    second: [other, kept.bytes, top.bytes],
    secondIds: { other: decodeOp(other).id, kept: kept.id, top: top.id },
    unfreeze: seq => a.emit(a.registrar, 'unfreeze', { account: r.publicKey, seq }).bytes
  }
}

function shuffle<T> (xs: T[], random: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) { const j = Math.floor(random() * (i + 1)); [xs[i], xs[j]] = [xs[j]!, xs[i]!] }
  return xs
}

const keyOf = (d: DecodedOp): string => opKey(d.op.author, d.op.seq, d.id).join('/')

// ---------------------------------------------------------------------------------------------------
// Replicas

type OpsByAuthor = Map<string, Map<string, DecodedOp>>

/**
 * A bare LedgerState and every op it was given, by author: what a Ledger keeps in storage. When a fork,
 * an unfreeze or a late device registration leaves chains to decide again (`dirty`), they are decided
 * again from those ops (`settleWith`) right after the op, as a Ledger does from storage. A restored
 * state can only do it this way: it does not hold the ops its snapshot covers (`retainOps` states do
 * it inside `add`; `roundTrip` checks that they agree).
 */
class Replica {
  readonly state: LedgerState
  readonly ops: OpsByAuthor

  constructor (state: LedgerState, ops: OpsByAuthor = new Map()) {
    this.state = state
    this.ops = ops
  }

  add (d: DecodedOp): AddResult {
    const author = toHex(d.op.author)
    let mine = this.ops.get(author)
    if (mine === undefined) this.ops.set(author, mine = new Map())
    mine.set(toHex(d.id), d)
    const result = this.state.add(d)
    if (this.state.dirty) this.state.settleWith(idx => [...(this.ops.get(this.state.chains[idx]!.hex)?.values() ?? [])])
    return result
  }

  /** The ops given so far, as a copy: the storage a snapshot of this replica is taken next to. */
  storage (): OpsByAuthor {
    return new Map([...this.ops].map(([author, ops]) => [author, new Map(ops)]))
  }
}

// ---------------------------------------------------------------------------------------------------
// Comparing states

/** Everything a state holds, as plain data (ids in hex, chain buffers trimmed to their length). */
function portrait (state: LedgerState): unknown {
  const p = state.parts()
  return {
    chains: p.chains.map(chainPortrait),
    registrations: [...p.registrations].map(([k, list]) => [k, list.map(r => ({ ...r, id: toHex(r.id), bodyFields: Object.keys(r.body), body: JSON.stringify(r.body, (_, v: unknown) => v instanceof Uint8Array ? toHex(v) : v) }))]),
    sharedBodies: [...p.registrations.values()].flat().map(r => [...p.registrations.values()].flat().filter(x => x.body === r.body).length),
    receipts: [...p.receipts],
    settled: [...state.receipts()].map(r => [r.oracle.idx, r.seq, r.settled]),
    settledCount: state.settledCount,
    devices: [...p.devices],
    pardons: [...p.pardons],
    equivocations: [...p.equivocations],
    pending: [...p.held.pending.keys()],
    waiting: [...p.held.waiting].map(([slot, list]) => [slot, list.map(d => toHex(d.id))]),
    frozen: [...p.held.frozen].map(([id, f]) => [id, f.chain, toHex(f.op.id)]),
    void: [...p.held.void],
    order: [...p.order],
    minted: p.minted,
    burned: p.burned,
    pendingCount: state.pendingCount,
    missing: state.missing().map(([k, s]) => `${toHex(k)}:${s}`),
    dirty: state.dirty
  }
}

/** Every field of a chain (see 'knows every field of a chain'). */
function chainPortrait (c: ChainView): Record<string, unknown> {
  return {
    idx: c.idx,
    key: toHex(c.key),
    hex: c.hex,
    length: c.length,
    ids: toHex(c.ids.subarray(0, c.length * 32)),
    status: toHex(c.status.subarray(0, c.length)),
    lastTs: c.lastTs,
    tsAt: c.tsAt === null ? null : [...c.tsAt.subarray(0, c.length)],
    frontier: [...c.frontier],
    witnessed: c.witnessed,
    balance: c.balance,
    declared: c.declared,
    spent: c.spent,
    reading: c.reading,
    readingTs: c.readingTs,
    minted: c.minted,
    burned: c.burned,
    prices: c.prices,
    funds: c.funds === null ? null : { funders: [...c.funds.funders], windows: c.funds.windows },
    credits: [...c.credits].map(([to, list]) => [to, list.entries, list.windows === null ? null : [...list.windows]]),
    creditors: [...c.creditors],
    settledIds: c.settledIds === null ? null : [...c.settledIds],
    frozenFrom: c.frozenFrom
  }
}

type Verdict = string
const verdict = (r: { status: string, id?: Uint8Array, code?: string, reason?: string }): Verdict =>
  [r.status, r.id === undefined ? '' : toHex(r.id), r.code ?? '', r.reason ?? ''].join(' ')

/** Adds ops, recording each result and every op decided on the way (unblocked, or decided again). */
function feed (replica: Replica, ops: readonly DecodedOp[]): Verdict[] {
  const out: Verdict[] = []
  const stop = replica.state.onDecided(r => out.push(`  decided ${verdict(r)}`))
  try {
    for (const d of ops) out.push(verdict(replica.add(d)))
  } finally {
    stop()
  }
  return out
}

function statuses (state: LedgerState, ops: readonly DecodedOp[]): string[] {
  return ops.map(d => state.statusOf(d.op.author, d.op.seq, d.id))
}

function decided (state: LedgerState): string[] {
  return [...state.decidedInOrder()].map(([c, seq]) => `${c.hex}:${seq}`)
}

/** A state that keeps its ops (it decides chains again by itself), given `ops` in order. */
function retained (genesis: DecodedOp, ops: readonly DecodedOp[]): LedgerState {
  const state = new LedgerState(genesis, { retainOps: true })
  for (const d of ops) state.add(d)
  return state
}

interface RoundTrip {
  straight: LedgerState
  restored: LedgerState
  /** What the snapshotted state held undecided, and its device windows not yet closed. */
  held: { pending: number, frozen: number, void: number, windows: number }
}

/**
 * Runs `first` then `rest` straight, and again with a snapshot (and restore) between the two; checks
 * the restored state equals the one snapshotted, and that both runs agree on everything after, down to
 * the ops decided on the way. A state that keeps its ops, given the same ops, agrees too.
 */
function roundTrip (genesis: DecodedOp, first: readonly DecodedOp[], rest: readonly DecodedOp[]): RoundTrip {
  const straight = new Replica(new LedgerState(genesis))
  const before = new Replica(new LedgerState(genesis))
  expect(feed(before, first)).toEqual(feed(straight, first))
  expect(before.state.dirty).toBe(false)
  const byKey = new Map([...first, ...rest].map(d => [keyOf(d), d]))
  const asked: string[] = []
  const bytes = encodeSnapshot(before.state, { journal: 17 })
  const snapshot = Snapshot.open(bytes)
  expect(snapshot.format).toBe(SNAPSHOT_FORMAT)
  expect(snapshot.journal).toBe(17)
  const restored = new Replica(snapshot.restore(genesis, { opAt: key => { asked.push(key.join('/')); return byKey.get(key.join('/')) } }), before.storage())
  // Only ops the state holds as ops are asked for, each once: pending and frozen ones.
  const p = before.state.parts()
  expect(asked.sort()).toEqual(snapshot.opKeys.map(k => k.join('/')).sort())
  expect(asked.sort()).toEqual([...p.held.pending.values(), ...[...p.held.frozen.values()].map(f => f.op)].map(keyOf).sort())
  expect(portrait(restored.state)).toEqual(portrait(before.state))
  expect(stateHash(restored.state)).toBe(stateHash(before.state))

  expect(feed(restored, rest)).toEqual(feed(straight, rest))
  expect(stateHash(restored.state)).toBe(stateHash(straight.state))
  const all = [...first, ...rest]
  expect(statuses(restored.state, all)).toEqual(statuses(straight.state, all))
  expect(decided(restored.state)).toEqual(decided(straight.state))
  expect(portrait(restored.state)).toEqual(portrait(straight.state))
  // Ops the snapshot holds are known: adding them again changes nothing.
  expect(feed(restored, first)).toEqual(feed(straight, first))
  expect(stateHash(restored.state)).toBe(stateHash(straight.state))
  expect(portrait(restored.state)).toEqual(portrait(straight.state))

  const keeping = retained(genesis, all)
  expect(portrait(keeping)).toEqual(portrait(straight.state))
  expect(statuses(keeping, all)).toEqual(statuses(straight.state, all))
  const windows = p.chains.reduce((n, c) => n + (c.funds?.windows.length ?? 0), 0)
  return { straight: straight.state, restored: restored.state, held: { pending: before.state.pendingCount, frozen: p.held.frozen.size, void: p.held.void.size, windows } }
}

// ---------------------------------------------------------------------------------------------------

describe('LedgerState snapshots', () => {
  it('knows every field of a chain (update snapshot.ts and the portrait here when this list changes)', () => {
    const key = new Uint8Array(33).fill(2)
    const chain = new Chain(0, key, toHex(key))
    const fields = [
      'balance', 'burned', 'creditors', 'credits', 'declared', 'frontier', 'frozenFrom', 'funds', 'hex', 'idx', 'ids',
      'key', 'lastTs', 'length', 'minted', 'prices', 'reading', 'readingTs', 'settledIds', 'spent', 'status', 'tsAt', 'witnessed'
    ]
    expect(Object.keys(chain).sort()).toEqual(fields.sort())
    expect(Object.keys(chainPortrait(chain)).sort()).toEqual(fields.sort())
  })

  it('restores the state at any point of a history, rejected ops and funding windows included', () => {
    let windows = 0
    for (const seed of [1, 2, 3]) {
      const isl = history(seed, 500)
      const genesis = decodeOp(isl.genesis)
      const ops = isl.ops.map(b => decodeOp(b))
      const kinds = new Set(ops.map(d => isl.state.statusOf(d.op.author, d.op.seq, d.id)))
      expect(kinds).toEqual(new Set(['accepted', 'rejected']))
      expect(ops.some(d => d.op.kind === 'transfer' && d.op.body.window !== null)).toBe(true)
      expect(ops.some(d => d.op.kind === 'beacon')).toBe(true)
      // Windows that lapsed went back to their funders.
      expect(isl.state.chains.some(c => [...c.funds?.funders.values() ?? []].some(f => f.returned > 0))).toBe(true)
      const random = seededRandom(100 + seed)
      for (const cut of [0, 1, ops.length, ...Array.from({ length: 5 }, () => Math.floor(random() * ops.length))]) {
        const { restored, held } = roundTrip(genesis, ops.slice(0, cut), ops.slice(cut))
        expect(stateHash(restored)).toBe(stateHash(isl.state))
        windows += held.windows
      }
    }
    // Snapshots were taken holding device windows not yet closed.
    expect(windows).toBeGreaterThan(0)
  })

  it('restores pending ops whose causal past is missing, and what they wait for', () => {
    const isl = history(4, 400)
    const genesis = decodeOp(isl.genesis)
    const ops = isl.ops.map(b => decodeOp(b))
    const random = seededRandom(44)
    for (let run = 0; run < 6; run++) {
      // Hold back some ops until after the cut: what builds on them waits at the snapshot.
      const cut = 50 + Math.floor(random() * (ops.length - 50))
      const held = new Set(shuffle(Array.from({ length: cut }, (_, i) => i), random).slice(0, 1 + Math.floor(random() * 8)))
      const first = ops.slice(0, cut).filter((_, i) => !held.has(i))
      const rest = [...shuffle([...held].map(i => ops[i]!), random), ...ops.slice(cut)]
      const probe = new LedgerState(genesis)
      for (const d of first) probe.add(d)
      expect(probe.pendingCount).toBeGreaterThan(0)
      const { restored } = roundTrip(genesis, first, rest)
      expect(restored.pendingCount).toBe(0)
      expect(stateHash(restored)).toBe(stateHash(isl.state))
    }
    // Everything in reverse: nearly every op waits.
    const reversed = ops.slice().reverse()
    const { restored } = roundTrip(genesis, reversed.slice(0, 300), reversed.slice(300))
    expect(stateHash(restored)).toBe(stateHash(isl.state))
  })

  it('restores forks: the fraud proof, void and frozen ops, the frozen author, and unfreezes lifting them', () => {
    const f = forked()
    const genesis = decodeOp(f.a.genesis)
    const r = f.a.residents[0]!.publicKey
    const ops = [...f.aOps, ...f.extraB].map(b => decodeOp(b))
    // What the set of ops gives: one fork (the resident's later ops on the losing side are void, not a
    // second fork), its author frozen from there.
    const whole = retained(genesis, ops)
    expect(whole.equivocations).toEqual([{ author: toHex(r), seq: f.forkSeq, ids: [toHex(f.winner), toHex(f.loser)] }])
    expect(whole.frozenAccounts().map(toHex)).toEqual([toHex(r)])
    expect(whole.chain(r).frozenFrom).toBe(f.forkSeq)
    expect(whole.statusOf(r, f.forkSeq, f.winner)).toBe('accepted')
    expect(whole.statusOf(r, f.forkSeq, f.loser)).toBe('void')
    expect(whole.statusOf(r, f.forkSeq + 1, f.next)).toBe('frozen')

    const random = seededRandom(9)
    const shuffled = shuffle(ops.slice(), random)
    const held = { pending: 0, frozen: 0, void: 0 }
    for (const order of [ops, shuffled]) {
      for (const cut of [f.aOps.length, order.length - f.extraB.length + 2, order.length - 1, ...Array.from({ length: 4 }, () => Math.floor(random() * order.length))]) {
        const { restored, held: h } = roundTrip(genesis, order.slice(0, cut), order.slice(cut))
        expect(stateHash(restored)).toBe(stateHash(whole))
        expect(restored.equivocations).toEqual(whole.equivocations)
        held.pending += h.pending; held.frozen += h.frozen; held.void += h.void
      }
    }
    // Snapshots were taken holding frozen ops, void ops and pending ops.
    expect(held.frozen).toBeGreaterThan(0)
    expect(held.void).toBeGreaterThan(0)
    expect(held.pending).toBeGreaterThan(0)
    const p = whole.parts()
    expect(p.held.frozen.size).toBeGreaterThan(0)
    expect(p.held.void.size).toBeGreaterThan(0)
    const byKey = new Map(ops.map(d => [keyOf(d), d]))
    const restored = decodeSnapshot(genesis, encodeSnapshot(whole), { opAt: key => byKey.get(key.join('/')) })
    expect(restored.frozenAccounts().map(toHex)).toEqual(whole.frozenAccounts().map(toHex))
    expect(restored.equivocations).toEqual(whole.equivocations)
    expect(portrait(restored)).toEqual(portrait(whole))

    // A second fork on the surviving branch, above the first. A registrar lifts the first freeze: the
    // author stays frozen from its second fork; then both.
    const second = f.second.map(b => decodeOp(b))
    const lift = [f.unfreeze(f.forkSeq), f.unfreeze(f.forkSeq + 2)].map(b => decodeOp(b))
    const once = [...ops, ...second, lift[0]!]
    const one = retained(genesis, once)
    expect(one.equivocations.map(e => [e.author, e.seq, e.ids.length])).toEqual([[toHex(r), f.forkSeq, 2], [toHex(r), f.forkSeq + 2, 2]])
    expect(one.frozenAccounts().map(toHex)).toEqual([toHex(r)])
    expect(one.chain(r).frozenFrom).toBe(f.forkSeq + 2)
    const keptWins = compareBytes(f.secondIds.kept, f.secondIds.other) < 0
    expect(one.statusOf(r, f.forkSeq + 1, f.next)).toBe('accepted')
    expect(one.statusOf(r, f.forkSeq + 2, keptWins ? f.secondIds.kept : f.secondIds.other)).toBe('accepted')
    expect(one.statusOf(r, f.forkSeq + 2, keptWins ? f.secondIds.other : f.secondIds.kept)).toBe('void')
    expect(one.statusOf(r, f.forkSeq + 3, f.secondIds.top)).toBe(keptWins ? 'frozen' : 'void')
    for (const cut of [100, f.aOps.length, ops.length, once.length - 1]) {
      const { restored: back } = roundTrip(genesis, once.slice(0, cut), once.slice(cut))
      expect(stateHash(back)).toBe(stateHash(one))
      expect(back.chain(r).frozenFrom).toBe(f.forkSeq + 2)
    }
    const twice = [...once, lift[1]!]
    const both = retained(genesis, twice)
    expect(both.frozenAccounts()).toEqual([])
    expect(both.equivocations).toEqual(one.equivocations)
    expect(both.statusOf(r, f.forkSeq + 3, f.secondIds.top)).toBe(keptWins ? 'accepted' : 'void')
    for (const cut of [100, ops.length, once.length, twice.length - 1]) {
      const { restored: lifted } = roundTrip(genesis, twice.slice(0, cut), twice.slice(cut))
      expect(lifted.frozenAccounts()).toEqual([])
      expect(stateHash(lifted)).toBe(stateHash(both))
    }
    // An unfreeze counts whenever it applies: given before the forks it lifts, it is the same.
    const early = [...lift, ...ops, ...second]
    for (const cut of [2, 100, ops.length]) {
      const { restored: lifted } = roundTrip(genesis, early.slice(0, cut), early.slice(cut))
      expect(stateHash(lifted)).toBe(stateHash(both))
    }
  })

  it('refuses torn, corrupted, foreign and incomplete snapshots', () => {
    const isl = history(5, 200)
    const genesis = decodeOp(isl.genesis)
    const ops = isl.ops.map(b => decodeOp(b))
    const state = new LedgerState(genesis)
    for (const d of ops.slice(0, 150).reverse().slice(0, 140)) state.add(d) // some pending
    expect(state.pendingCount).toBeGreaterThan(0)
    const bytes = encodeSnapshot(state)
    const byKey = new Map(ops.map(d => [keyOf(d), d]))
    const opAt = (key: StorageKey): DecodedOp | undefined => byKey.get(key.join('/'))
    expect(stateHash(decodeSnapshot(genesis, bytes, { opAt }))).toBe(stateHash(state))
    const random = seededRandom(5)
    for (let i = 0; i < 20; i++) {
      const bad = bytes.slice()
      const at = Math.floor(random() * bad.length)
      bad[at] = bad[at]! ^ (1 << Math.floor(random() * 8))
      expect(() => decodeSnapshot(genesis, bad, { opAt })).toThrow(SnapshotError)
    }
    expect(() => decodeSnapshot(genesis, bytes.subarray(0, bytes.length - 1), { opAt })).toThrow(SnapshotError)
    expect(() => decodeSnapshot(genesis, bytes.subarray(0, 30), { opAt })).toThrow(SnapshotError)
    expect(() => decodeSnapshot(genesis, new Uint8Array(0), { opAt })).toThrow(SnapshotError)
    const older = bytes.slice()
    new DataView(older.buffer).setUint32(4, SNAPSHOT_FORMAT - 1, true)
    expect(() => decodeSnapshot(genesis, older, { opAt })).toThrow(/format/)
    const other = new Island({ seed: 'elsewhere', signerFor })
    expect(() => decodeSnapshot(decodeOp(other.genesis), bytes, { opAt })).toThrow(/another grid/)
    expect(() => decodeSnapshot(genesis, bytes)).toThrow(/not available/)
    expect(() => decodeSnapshot(genesis, bytes, { opAt: key => opAt(key) === undefined ? undefined : ops[0] })).toThrow(/another op/)
    const snapshot = Snapshot.open(bytes)
    snapshot.restore(genesis, { opAt })
    expect(() => snapshot.restore(genesis, { opAt })).toThrow(/already restored/)
    const unaligned = new Uint8Array(bytes.length + 3)
    unaligned.set(bytes, 3)
    expect(stateHash(decodeSnapshot(genesis, unaligned.subarray(3), { opAt }))).toBe(stateHash(state))
  })
})

// ---------------------------------------------------------------------------------------------------
// Ledger

/** Memory storage that records what is read: to prove what opening touches. */
class CountingStorage extends MemoryStorage {
  loads: string[] = []
  ranges: string[] = []
  failSave: ((entries: readonly StorageEntry[]) => boolean) | undefined
  failRemoveRange: ((prefix: StorageKey) => boolean) | undefined

  reset (): void { this.loads = []; this.ranges = [] }
  override async load (key: StorageKey): Promise<Uint8Array | undefined> {
    this.loads.push(key.join('/'))
    return await super.load(key)
  }

  override async loadRange (prefix: StorageKey): Promise<StorageEntry[]> {
    this.ranges.push(prefix.join('/'))
    return await super.loadRange(prefix)
  }

  override async saveBatch (entries: readonly StorageEntry[]): Promise<void> {
    if (this.failSave?.(entries) === true) throw new Error('crash while saving')
    await super.saveBatch(entries)
  }

  override async removeRange (prefix: StorageKey): Promise<void> {
    if (this.failRemoveRange?.(prefix) === true) throw new Error('crash while removing')
    await super.removeRange(prefix)
  }
}

async function applyAll (ledger: Ledger, ops: readonly Uint8Array[], batch = 40): Promise<IngestResult[]> {
  const out: IngestResult[] = []
  for (let i = 0; i < ops.length; i += batch) out.push(...await ledger.applyBatch(ops.slice(i, i + batch)))
  return out
}

const journalOf = async (storage: MemoryStorage): Promise<StorageEntry[]> => await storage.loadRange(JOURNAL_PREFIX)
const summary = (r: IngestResult): string => r.status === 'invalid' ? 'invalid' : `${r.status} ${toHex(r.id)}`
const snapshotIn = async (storage: MemoryStorage): Promise<Snapshot> => Snapshot.open((await storage.load(SNAPSHOT_KEY))!)

describe('Ledger snapshots', () => {
  it('opens from its snapshot and journal without reading the ops the snapshot covers', async () => {
    const isl = history(6, 700)
    const storage = new CountingStorage()
    const ledger = await Ledger.open({ genesis: isl.genesis, storage, verifier: trusted, snapshotEvery: 200 })
    await applyAll(ledger, isl.ops.slice(0, 650))
    const snapshot = await snapshotIn(storage)
    const journal = await journalOf(storage)
    // Snapshots after 200, 400 and 600 ops; the journal numbers the ops stored after the first one.
    expect(journal.length).toBe(650 - 600)
    expect(snapshot.journal).toBe(400)
    expect(journal.map(e => e.key)).toEqual(Array.from({ length: 50 }, (_, i) => journalKey(401 + i)))
    expect(journal.map(e => JSON.parse(new TextDecoder().decode(e.data)) as string[]))
      .toEqual(isl.ops.slice(600, 650).map(b => { const d = decodeOp(b); return opKey(d.op.author, d.op.seq, d.id) }))

    storage.reset()
    const reopened = await Ledger.open({ storage, verifier: trusted, snapshotEvery: 200 })
    expect(reopened.lastLoad).toEqual({ from: 'snapshot', decoded: 50 })
    expect(storage.ranges).toEqual(['journal']) // never the ops
    expect(storage.loads.filter(k => k.startsWith('op/')).sort()).toEqual(journal.map(e => (JSON.parse(new TextDecoder().decode(e.data)) as string[]).join('/')).sort())
    expect(reopened.stateHash()).toBe(ledger.stateHash())
    expect(portrait(reopened.state)).toEqual(portrait(ledger.state))
    expect(reopened.rewinds).toBe(0)

    // Both go on the same way, and the reopened one snapshots 150 ops later (200 since its snapshot).
    const more = isl.ops.slice(650)
    expect((await applyAll(reopened, more)).map(summary)).toEqual((await applyAll(ledger, more)).map(summary))
    expect(reopened.stateHash()).toBe(ledger.stateHash())
    expect(reopened.stateHash()).toBe(stateHash(isl.state))
    expect(more.length).toBeLessThan(150)
    expect((await snapshotIn(storage)).journal).toBe(400)
    expect((await journalOf(storage)).length).toBe(50 + more.length)
  })

  it('takes no snapshot with snapshotEvery 0, and replays', async () => {
    const isl = history(7, 150)
    const storage = new CountingStorage()
    const ledger = await Ledger.open({ genesis: isl.genesis, storage, verifier: trusted, snapshotEvery: 0 })
    await applyAll(ledger, isl.ops)
    expect(await storage.load(SNAPSHOT_KEY)).toBeUndefined()
    expect(await journalOf(storage)).toEqual([])
    const reopened = await Ledger.open({ storage, verifier: trusted, snapshotEvery: 0 })
    expect(reopened.lastLoad).toEqual({ from: 'replay', decoded: isl.ops.length })
    expect(await storage.load(SNAPSHOT_KEY)).toBeUndefined()
    expect(reopened.stateHash()).toBe(ledger.stateHash())
    // An explicit snapshot still works; the next open uses it.
    expect(await reopened.snapshot()).toBeGreaterThan(0)
    await reopened.applyBatch([]) // nothing new
    const third = await Ledger.open({ storage, verifier: trusted, snapshotEvery: 0 })
    expect(third.lastLoad).toEqual({ from: 'snapshot', decoded: 0 })
    expect(third.stateHash()).toBe(ledger.stateHash())
  })

  it('ignores a corrupted or torn snapshot: full replay, same state, and a fresh snapshot', async () => {
    const isl = history(8, 300)
    for (const damage of ['flip', 'torn'] as const) {
      const storage = new CountingStorage()
      const ledger = await Ledger.open({ genesis: isl.genesis, storage, verifier: trusted, snapshotEvery: 100 })
      await applyAll(ledger, isl.ops.slice(0, 250))
      const bad = (await storage.load(SNAPSHOT_KEY))!
      if (damage === 'flip') bad[bad.length >> 1] = bad[bad.length >> 1]! ^ 0x10
      await storage.save(SNAPSHOT_KEY, damage === 'flip' ? bad : bad.subarray(0, bad.length >> 1))
      storage.reset()
      const reopened = await Ledger.open({ storage, verifier: trusted, snapshotEvery: 100 })
      expect(reopened.lastLoad.from).toBe('replay')
      expect(reopened.lastLoad.snapshotRefused).toMatch(damage === 'flip' ? /checksum/ : /payload bytes/)
      expect(storage.ranges).toContain('op')
      expect(reopened.stateHash()).toBe(ledger.stateHash())
      // The replay wrote a good snapshot again, and the ledger goes on from it as the original does.
      const next = await Ledger.open({ storage, verifier: trusted, snapshotEvery: 100 })
      expect(next.lastLoad).toEqual({ from: 'snapshot', decoded: 0 })
      expect(next.stateHash()).toBe(ledger.stateHash())
      const rest = isl.ops.slice(250)
      expect((await applyAll(next, rest)).map(summary)).toEqual((await applyAll(ledger, rest)).map(summary))
      expect(next.stateHash()).toBe(stateHash(isl.state))
    }
  })

  it('survives a crash between writing the snapshot and removing the journal it covers', async () => {
    const isl = history(9, 300)
    const storage = new CountingStorage()
    const ledger = await Ledger.open({ genesis: isl.genesis, storage, verifier: trusted, snapshotEvery: 0 })
    await applyAll(ledger, isl.ops.slice(0, 100))
    await ledger.snapshot()
    await applyAll(ledger, isl.ops.slice(100, 200))
    expect((await journalOf(storage)).length).toBe(100)
    storage.failRemoveRange = prefix => prefix[0] === 'journal'
    await expect(ledger.snapshot()).rejects.toThrow('crash while removing')
    storage.failRemoveRange = undefined
    expect((await journalOf(storage)).length).toBe(100) // covered by the new snapshot, still there

    storage.reset()
    const reopened = await Ledger.open({ storage, verifier: trusted, snapshotEvery: 0 })
    expect(reopened.lastLoad).toEqual({ from: 'snapshot', decoded: 0 }) // the covered entries are skipped
    expect(storage.loads.filter(k => k.startsWith('op/'))).toEqual([])
    expect(reopened.stateHash()).toBe(ledger.stateHash())
    // New journal entries number on past the covered ones; the next open reads only those.
    await applyAll(reopened, isl.ops.slice(200, 250))
    const journal = await journalOf(storage)
    expect(journal.length).toBe(150)
    expect(journal.at(-1)!.key).toEqual(journalKey(150)) // 1-100 (covered), then 101-150
    const third = await Ledger.open({ storage, verifier: trusted, snapshotEvery: 0 })
    expect(third.lastLoad).toEqual({ from: 'snapshot', decoded: 50 })
    expect(third.stateHash()).toBe(reopened.stateHash())

    // Even a snapshot that claims to cover less than it does is harmless: the ops it holds come back as duplicates.
    const understated = encodeSnapshot(third.state, { journal: 0 })
    await storage.save(SNAPSHOT_KEY, understated)
    const fourth = await Ledger.open({ storage, verifier: trusted, snapshotEvery: 0 })
    expect(fourth.lastLoad).toEqual({ from: 'snapshot', decoded: 150 })
    expect(fourth.stateHash()).toBe(third.stateHash())
    expect(portrait(fourth.state)).toEqual(portrait(third.state))
    const again = third.state.parts()
    expect(again.order.length).toBe(fourth.state.parts().order.length)
    await applyAll(fourth, isl.ops.slice(250))
    expect(fourth.stateHash()).toBe(stateHash(isl.state))
  })

  it('restores pending ops from storage at open, and applies them when their past arrives', async () => {
    const isl = history(10, 300)
    const storage = new CountingStorage()
    const ledger = await Ledger.open({ genesis: isl.genesis, storage, verifier: trusted, snapshotEvery: 0 })
    const held = isl.ops.slice(100, 110)
    await applyAll(ledger, [...isl.ops.slice(0, 100), ...isl.ops.slice(110, 200)])
    expect(ledger.state.pendingCount).toBeGreaterThan(0)
    await ledger.snapshot()
    await applyAll(ledger, isl.ops.slice(200, 220))
    const pending = ledger.state.pendingCount
    storage.reset()
    const reopened = await Ledger.open({ storage, verifier: trusted, snapshotEvery: 0 })
    const snapshot = await snapshotIn(storage)
    expect(snapshot.opKeys.length).toBeGreaterThan(0)
    expect(reopened.lastLoad).toEqual({ from: 'snapshot', decoded: snapshot.opKeys.length + 20 })
    expect(reopened.state.pendingCount).toBe(pending)
    expect(reopened.stateHash()).toBe(ledger.stateHash())
    const woken: string[][] = [[], []]
    reopened.onOp(r => woken[0]!.push(summary(r)))
    ledger.onOp(r => woken[1]!.push(summary(r)))
    await reopened.applyBatch(held)
    await ledger.applyBatch(held)
    expect(woken[0]).toEqual(woken[1])
    expect(reopened.state.pendingCount).toBe(0)
    await applyAll(reopened, isl.ops.slice(220))
    expect(reopened.stateHash()).toBe(stateHash(isl.state))
  })

  it('keeps a fraud proof and a freeze across snapshots, and opens from a snapshot taken before the fork', async () => {
    const f = forked()
    const r = f.a.residents[0]!.publicKey
    const storage = new CountingStorage()
    const x = await Ledger.open({ genesis: f.a.genesis, storage, verifier: trusted, snapshotEvery: 30 })
    await applyAll(x, f.aOps, 25)
    const covered = (await snapshotIn(storage)).journal
    expect(covered).toBeGreaterThan(0) // snapshots every 30 ops: the journal numbers the ops after the first
    // The fork makes x decide the resident's chain (and the chains that relied on it) again, once.
    await applyAll(x, f.extraB, 25)
    expect(x.rewinds).toBe(1)
    expect(x.state.frozenAccounts().map(toHex)).toEqual([toHex(r)])
    const reference = await Ledger.open({ genesis: f.a.genesis, verifier: trusted })
    await reference.applyBatch([...f.aOps, ...f.extraB])
    expect(x.stateHash()).toBe(reference.stateHash())
    expect(x.state.equivocations).toEqual(reference.state.equivocations)
    expect(x.state.equivocations).toEqual([{ author: toHex(r), seq: f.forkSeq, ids: [toHex(f.winner), toHex(f.loser)] }])

    // Too few ops since: the snapshot in storage predates the fork, which is in the journal.
    expect((await snapshotIn(storage)).journal).toBe(covered)
    const journaled = (await journalOf(storage)).filter(e => Number(e.key[1]) > covered).length
    expect(journaled).toBeGreaterThanOrEqual(f.extraB.length)
    storage.reset()
    const reopened = await Ledger.open({ storage, verifier: trusted, snapshotEvery: 30 })
    expect(reopened.lastLoad).toEqual({ from: 'snapshot', decoded: journaled })
    expect(reopened.rewinds).toBe(1)
    expect(storage.ranges).not.toContain('op')
    expect(storage.ranges).toContain(`op/${toHex(r)}`)
    expect(reopened.stateHash()).toBe(x.stateHash())
    expect(reopened.state.equivocations).toEqual(x.state.equivocations)
    expect(reopened.state.frozenAccounts().map(toHex)).toEqual([toHex(r)])

    // The registrar lifts the freeze: the resident's chain is decided again, no replay.
    const lift = f.unfreeze(f.forkSeq)
    const rewinds = reopened.rewinds
    expect((await reopened.applyBatch([lift])).map(res => res.status)).toEqual(['applied'])
    expect(reopened.rewinds).toBe(rewinds + 1)
    await reference.applyBatch([lift])
    expect(reopened.stateHash()).toBe(reference.stateHash())
    expect(reopened.state.frozenAccounts()).toEqual([])
    expect(reopened.state.statusOf(r, f.forkSeq + 1, f.next)).toBe('accepted')
    storage.reset()
    const third = await Ledger.open({ storage, verifier: trusted, snapshotEvery: 30 })
    expect(third.lastLoad.from).toBe('snapshot')
    expect(storage.ranges).not.toContain('op')
    expect(third.stateHash()).toBe(reference.stateHash())
    expect(third.state.frozenAccounts()).toEqual([])
    expect(third.state.equivocations).toEqual(reference.state.equivocations)
  })

  it('opens from a snapshot a crash left behind a fork or an unfreeze: the chains they touch are decided again', async () => {
    const f = forked()
    const r = f.a.residents[0]!.publicKey
    const storage = new CountingStorage()
    // A snapshot after every batch: the ledger tries one right after the fork's ops are stored.
    const x = await Ledger.open({ genesis: f.a.genesis, storage, verifier: trusted, snapshotEvery: 1 })
    await applyAll(x, f.aOps)
    await x.snapshot()
    const covered = (await snapshotIn(storage)).journal
    const reference = await Ledger.open({ genesis: f.a.genesis, verifier: trusted })
    await reference.applyBatch([...f.aOps, ...f.extraB])

    // The fork's ops are stored (with their journal entries); every snapshot after them is lost.
    let lost = 0
    storage.failSave = entries => entries.some(e => e.key[0] === 'snapshot') && ++lost > 0
    await applyAll(x, f.extraB, 1)
    storage.failSave = undefined
    expect(lost).toBe(f.extraB.length)
    expect(x.rewinds).toBe(1)
    expect(x.stateHash()).toBe(reference.stateHash())
    expect((await snapshotIn(storage)).journal).toBe(covered)
    expect((await journalOf(storage)).length).toBe(f.extraB.length)
    storage.reset()
    const reopened = await Ledger.open({ storage, verifier: trusted, snapshotEvery: 0 })
    expect(reopened.lastLoad).toEqual({ from: 'snapshot', decoded: f.extraB.length })
    expect(reopened.rewinds).toBe(1)
    // Only the journal and the chains decided again are read back, never every op.
    expect(storage.ranges).not.toContain('op')
    expect(storage.ranges).toContain(`op/${toHex(r)}`)
    expect(reopened.stateHash()).toBe(reference.stateHash())
    expect(reopened.state.equivocations).toEqual(reference.state.equivocations)
    expect(portrait(reopened.state)).toEqual(portrait(x.state))

    // Same with an unfreeze: it changes past verdicts too, and the snapshot before the fork still serves.
    const lift = f.unfreeze(f.forkSeq)
    await reference.applyBatch([lift])
    expect((await reopened.applyBatch([lift])).map(res => res.status)).toEqual(['applied'])
    expect(reopened.stateHash()).toBe(reference.stateHash())
    storage.reset()
    const last = await Ledger.open({ storage, verifier: trusted, snapshotEvery: 0 })
    expect(last.lastLoad).toEqual({ from: 'snapshot', decoded: f.extraB.length + 1 })
    expect(last.rewinds).toBeGreaterThan(0)
    expect(storage.ranges).not.toContain('op')
    expect(last.stateHash()).toBe(reference.stateHash())
    expect(last.state.frozenAccounts()).toEqual([])
    expect(portrait(last.state)).toEqual(portrait(reopened.state))

    // And when the unfreeze is in the snapshot but the fork comes after it (in the journal).
    const storage2 = new CountingStorage()
    const y = await Ledger.open({ genesis: f.a.genesis, storage: storage2, verifier: trusted, snapshotEvery: 0 })
    await applyAll(y, [...f.aOps, lift])
    await y.snapshot()
    await applyAll(y, f.extraB)
    const z = await Ledger.open({ storage: storage2, verifier: trusted, snapshotEvery: 0 })
    expect(z.lastLoad).toEqual({ from: 'snapshot', decoded: f.extraB.length })
    expect(z.stateHash()).toBe(reference.stateHash())
    expect(y.stateHash()).toBe(reference.stateHash())
    expect(z.state.frozenAccounts()).toEqual([])
  })

  it('replays every stored op whatever the pending bound, which holds again after', async () => {
    const isl = history(12, 300)
    const storage = new CountingStorage()
    const ledger = await Ledger.open({ genesis: isl.genesis, storage, verifier: trusted, maxPending: 3, snapshotEvery: 0 })
    await applyAll(ledger, isl.ops) // in signed order: nothing waits
    // Storage order (by author) makes many ops wait on the way: more than the bound.
    const byAuthor = new LedgerState(decodeOp(isl.genesis))
    let most = 0
    for (const { data } of await storage.loadRange(['op'])) { byAuthor.add(decodeOp(data)); most = Math.max(most, byAuthor.pendingCount) }
    expect(most).toBeGreaterThan(3)
    const reopened = await Ledger.open({ storage, verifier: trusted, maxPending: 3, snapshotEvery: 0 })
    expect(reopened.lastLoad.from).toBe('replay')
    expect(reopened.stateHash()).toBe(ledger.stateHash())
    expect(reopened.state.maxPending).toBe(3)
  })

  it('reloads from the snapshot and journal when a write fails', async () => {
    const isl = history(11, 200)
    const storage = new CountingStorage()
    const ledger = await Ledger.open({ genesis: isl.genesis, storage, verifier: trusted, snapshotEvery: 50 })
    await applyAll(ledger, isl.ops.slice(0, 120))
    const before = ledger.stateHash()
    storage.failSave = () => true
    storage.reset()
    await expect(ledger.applyBatch(isl.ops.slice(120, 160))).rejects.toThrow('crash while saving')
    storage.failSave = undefined
    expect(ledger.lastLoad).toEqual({ from: 'snapshot', decoded: 40 }) // snapshot after 80 ops, journal 81-120
    expect(storage.ranges).not.toContain('op')
    expect(ledger.stateHash()).toBe(before)
    await applyAll(ledger, isl.ops.slice(120))
    expect(ledger.stateHash()).toBe(stateHash(isl.state))
  })
})
