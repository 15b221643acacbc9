/**
 * Snapshots: a state restored from its snapshot, then given more ops, must be indistinguishable from
 * the state that never stopped (state hash, every op's verdict, what pending ops wait for, decision
 * order), and a Ledger must open from its snapshot plus journal without touching the ops it covers.
 */
import { describe, expect, it } from 'vitest'
import {
  decodeOp, keySigner, toHex,
  type DecodedOp, type OpSigner
} from '@microgrid/protocol'
import {
  Chain, decodeSnapshot, encodeSnapshot, JOURNAL_PREFIX, journalKey, Ledger, LedgerState, MemoryStorage,
  nativeSigner, opKey, resolveForks, Snapshot, SNAPSHOT_KEY, SnapshotError, stateHash,
  type ForkResolution, type IngestResult, type StorageEntry, type StorageKey
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
      case 2: isl.emit(d.meter, 'transfer', { contract: 'resident', to: isl.devices[0]!.meter.publicKey, wh: 1, receipt: null, window: null }); break // consumer-burn-only
      default: if (isl.state.balance(r.publicKey) > 2_000) isl.fund(r, d, 1_000, { from: isl.clock.now() - 3_600_000, until: isl.clock.now() + 60_000 }) // a window that lapses soon
    }
  }
  // Every op the authoring replica holds is in the history (the island drops burns it could not make).
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

/** Resident 0 spends its 20 kWh twice (device 0 on island a, device 1 on island b), and both sides go on. */
function forked (): { a: Island, b: Island, extraB: Uint8Array[], forkSeq: number } {
  const a = twin()
  const b = twin()
  const base = a.ops.length
  const fund = (isl: Island, device: number): void => {
    expect(isl.fund(isl.residents[0]!, isl.devices[device]!, 15_000).status).toBe('applied')
  }
  const forkSeq = a.state.chain(a.residents[0]!.publicKey).length
  fund(a, 0)
  fund(b, 1)
  // Both sides go on: the resident signs on from its own branch (a second fork, above the first),
  // side b's device burns what its branch gave it, and side a grows a history that touches neither.
  a.burn(a.devices[0]!, 1_000)
  a.fund(a.residents[0]!, a.devices[2]!, 1_000)
  b.burn(b.devices[1]!, 1_000)
  b.fund(b.residents[0]!, b.devices[1]!, 1_000)
  const p = a.producers[0]!
  for (let i = 0; i < 20; i++) a.mint(p)
  a.sellRetail(a.residents[1]!, 100)
  a.fund(a.residents[1]!, a.devices[2]!, 3_000, { from: a.clock.now(), until: a.clock.now() + 3_600_000 })
  a.burn(a.devices[2]!, 2_000)
  return { a, b, extraB: b.ops.slice(base), forkSeq }
}

/** The registrar lifts both freezes of resident 0 (its forks at `forkSeq` and the one above). */
function unfreezes (isl: Island, forkSeq: number): Uint8Array[] {
  return [0, 1].map(i => isl.emit(isl.registrar, 'unfreeze', { account: isl.residents[0]!.publicKey, seq: forkSeq + i }).bytes)
}

function forksOf (genesis: DecodedOp, ops: readonly DecodedOp[], pardons: ReadonlySet<string> = new Set()): ForkResolution {
  const headers = [genesis, ...ops].map(d => ({ author: toHex(d.op.author), seq: d.op.seq, prev: d.op.prev, id: d.id }))
  return resolveForks(headers, pardons)
}

function shuffle<T> (xs: T[], random: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) { const j = Math.floor(random() * (i + 1)); [xs[i], xs[j]] = [xs[j]!, xs[i]!] }
  return xs
}

// ---------------------------------------------------------------------------------------------------
// Comparing states

/** Everything a state holds, as plain data (ids in hex, chain buffers trimmed to their length). */
function portrait (state: LedgerState): unknown {
  const p = state.parts()
  return {
    chains: p.chains.map(c => ({
      idx: c.idx,
      key: toHex(c.key),
      hex: c.hex,
      length: c.length,
      ids: toHex(c.ids.subarray(0, c.length * 32)),
      status: toHex(c.status.subarray(0, c.length)),
      lastTs: c.lastTs,
      frontier: [...c.frontier],
      balance: c.balance,
      declared: c.declared,
      spent: c.spent,
      burnOnly: c.burnOnly,
      reading: c.reading,
      readingTs: c.readingTs,
      wholesale: c.wholesale,
      retail: c.retail,
      windows: c.windows,
      credits: [...c.credits],
      creditors: [...c.creditors],
      paymentIds: c.paymentIds === null ? null : [...c.paymentIds],
      frozenFrom: c.frozenFrom
    })),
    registrations: [...p.registrations].map(([k, list]) => [k, list.map(r => ({ ...r, id: toHex(r.id), bodyFields: Object.keys(r.body), body: JSON.stringify(r.body, (_, v: unknown) => v instanceof Uint8Array ? toHex(v) : v) }))]),
    sharedBodies: [...p.registrations.values()].flat().map(r => [...p.registrations.values()].flat().filter(x => x.body === r.body).length),
    receipts: [...p.receipts],
    settled: [...p.settled].sort((a, b) => a - b),
    waiting: [...p.waiting].map(([slot, list]) => [slot, list.map(d => toHex(d.id))]),
    frozenOps: [...p.frozenOps].map(([slot, d]) => [slot, toHex(d.id)]),
    voidSlots: [...p.voidSlots].map(([slot, ids]) => [slot, ids.map(toHex)]),
    voidIds: [...p.voidIds],
    equivocations: p.equivocations,
    order: [...p.order],
    minted: p.minted,
    burned: p.burned,
    pendingCount: state.pendingCount,
    missing: state.missing().map(([k, s]) => `${toHex(k)}:${s}`)
  }
}

type Verdict = string
const verdict = (r: { status: string, id?: Uint8Array, code?: string, reason?: string }): Verdict =>
  [r.status, r.id === undefined ? '' : toHex(r.id), r.code ?? '', r.reason ?? ''].join(' ')

/** Adds ops, recording each result and every op the additions decide from the pending set. */
function feed (state: LedgerState, ops: readonly DecodedOp[]): Verdict[] {
  const out: Verdict[] = []
  const stop = state.onDecided(r => out.push(`  woken ${verdict(r)}`))
  try {
    for (const d of ops) out.push(verdict(state.add(d)))
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

/**
 * Runs `first` then `rest` straight, and again with a snapshot (and restore) between the two; checks
 * the restored state equals the one snapshotted, and that both runs agree on everything after.
 */
function roundTrip (genesis: DecodedOp, first: readonly DecodedOp[], rest: readonly DecodedOp[], options: { forks?: ForkResolution } = {}): { straight: LedgerState, restored: LedgerState, held: { pending: number, frozen: number, void: number } } {
  const straight = new LedgerState(genesis, options)
  const before = new LedgerState(genesis, options)
  feed(straight, first)
  feed(before, first)
  const byKey = new Map([...first, ...rest].map(d => [opKey(d.op.author, d.op.seq, d.id).join('/'), d]))
  const asked: string[] = []
  const bytes = encodeSnapshot(before, { journal: 17 })
  const snapshot = Snapshot.open(bytes)
  expect(snapshot.journal).toBe(17)
  const restored = snapshot.restore(genesis, { opAt: key => { asked.push(key.join('/')); return byKey.get(key.join('/')) } })
  // Only ops the state holds as ops are asked for, each once: pending and frozen ones.
  expect(asked.sort()).toEqual(snapshot.opKeys.map(k => k.join('/')).sort())
  expect(asked.length).toBe(before.pendingCount + portraitFrozen(before))
  expect(portrait(restored)).toEqual(portrait(before))
  expect(stateHash(restored)).toBe(stateHash(before))

  expect(feed(restored, rest)).toEqual(feed(straight, rest))
  expect(stateHash(restored)).toBe(stateHash(straight))
  const all = [...first, ...rest]
  expect(statuses(restored, all)).toEqual(statuses(straight, all))
  expect(decided(restored)).toEqual(decided(straight))
  expect(portrait(restored)).toEqual(portrait(straight))
  // Ops the snapshot holds are known: adding them again changes nothing.
  expect(feed(restored, first)).toEqual(feed(straight, first))
  expect(stateHash(restored)).toBe(stateHash(straight))
  const p = before.parts()
  return { straight, restored, held: { pending: before.pendingCount, frozen: p.frozenOps.size, void: p.voidSlots.size } }
}

function portraitFrozen (state: LedgerState): number {
  return state.parts().frozenOps.size
}

// ---------------------------------------------------------------------------------------------------

describe('LedgerState snapshots', () => {
  it('knows every field of a chain (update snapshot.ts when this list changes)', () => {
    const key = new Uint8Array(33).fill(2)
    expect(Object.keys(new Chain(0, key, toHex(key))).sort()).toEqual([
      'balance', 'burnOnly', 'creditors', 'credits', 'declared', 'frontier', 'frozenFrom', 'hex', 'idx', 'ids', 'key',
      'lastTs', 'length', 'paymentIds', 'reading', 'readingTs', 'retail', 'spent', 'status', 'wholesale', 'windows'
    ].sort())
  })

  it('restores the state at any point of a history, rejected ops and funding windows included', () => {
    for (const seed of [1, 2, 3]) {
      const isl = history(seed, 500)
      const genesis = decodeOp(isl.genesis)
      const ops = isl.ops.map(b => decodeOp(b))
      const kinds = new Set(ops.map(d => isl.state.statusOf(d.op.author, d.op.seq, d.id)))
      expect(kinds).toEqual(new Set(['accepted', 'rejected']))
      expect(ops.some(d => d.op.kind === 'transfer' && d.op.body.window !== null)).toBe(true)
      const random = seededRandom(100 + seed)
      for (const cut of [0, 1, ops.length, ...Array.from({ length: 5 }, () => Math.floor(random() * ops.length))]) {
        const { restored } = roundTrip(genesis, ops.slice(0, cut), ops.slice(cut))
        expect(stateHash(restored)).toBe(stateHash(isl.state))
      }
    }
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
      feed(probe, first)
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

  it('restores a fork resolution: the fraud proof, void branch, frozen author and its frozen ops', () => {
    const { a, extraB } = forked()
    const genesis = decodeOp(a.genesis)
    const ops = [...a.ops, ...extraB].map(b => decodeOp(b))
    const forks = forksOf(genesis, ops)
    expect(forks.equivocations.map(e => e.author)).toEqual([toHex(a.residents[0]!.publicKey), toHex(a.residents[0]!.publicKey)])
    expect(forks.frozenFrom.size).toBe(1)
    const random = seededRandom(9)
    const shuffled = shuffle(ops.slice(), random)
    const held = { pending: 0, frozen: 0, void: 0 }
    for (const order of [ops, shuffled]) {
      for (const cut of [order.length - extraB.length + 2, order.length - 1, ...Array.from({ length: 4 }, () => Math.floor(random() * order.length))]) {
        const { held: h } = roundTrip(genesis, order.slice(0, cut), order.slice(cut), { forks })
        held.pending += h.pending; held.frozen += h.frozen; held.void += h.void
      }
    }
    // Snapshots were taken holding frozen ops, void slots and pending ops.
    expect(held.frozen).toBeGreaterThan(0)
    expect(held.void).toBeGreaterThan(0)
    expect(held.pending).toBeGreaterThan(0)
    const whole = new LedgerState(genesis, { forks })
    feed(whole, ops)
    const p = whole.parts()
    expect(p.frozenOps.size).toBeGreaterThan(0)
    expect(p.voidSlots.size).toBeGreaterThan(0)
    const restored = decodeSnapshot(genesis, encodeSnapshot(whole), { opAt: key => ops.find(d => opKey(d.op.author, d.op.seq, d.id).join('/') === key.join('/')) })
    expect(restored.frozenAccounts().map(toHex)).toEqual(whole.frozenAccounts().map(toHex))
    expect(restored.equivocations).toEqual(whole.equivocations)

    // A registrar lifts the first freeze (the author stays frozen from its second fork), then both.
    const [first, second] = unfreezes(a, forks.equivocations[0]!.seq).map(b => decodeOp(b)) as [DecodedOp, DecodedOp]
    const author = forks.equivocations[0]!.author
    const once = forksOf(genesis, [...ops, first], new Set([`${author}:${forks.equivocations[0]!.seq}`]))
    expect([...once.frozenFrom]).toEqual([[author, forks.equivocations[0]!.seq + 1]])
    roundTrip(genesis, [...ops, first].slice(0, 100), [...ops, first].slice(100), { forks: once })
    const twice = forksOf(genesis, [...ops, first, second], new Set(forks.equivocations.map(e => `${e.author}:${e.seq}`)))
    expect(twice.frozenFrom.size).toBe(0)
    const { restored: lifted } = roundTrip(genesis, [...ops, first, second].slice(0, 100), [...ops, first, second].slice(100), { forks: twice })
    expect(lifted.frozenAccounts()).toEqual([])
  })

  it('refuses torn, corrupted, foreign and incomplete snapshots', () => {
    const isl = history(5, 200)
    const genesis = decodeOp(isl.genesis)
    const ops = isl.ops.map(b => decodeOp(b))
    const state = new LedgerState(genesis)
    feed(state, ops.slice(0, 150).reverse().slice(0, 140)) // some pending
    expect(state.pendingCount).toBeGreaterThan(0)
    const bytes = encodeSnapshot(state)
    const byKey = new Map(ops.map(d => [opKey(d.op.author, d.op.seq, d.id).join('/'), d]))
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
    const other = new Island({ seed: 'elsewhere', signerFor })
    expect(() => decodeSnapshot(decodeOp(other.genesis), bytes, { opAt })).toThrow(/another grid/)
    expect(() => decodeSnapshot(genesis, bytes)).toThrow(/not available/)
    expect(() => decodeSnapshot(genesis, bytes, { opAt: key => opAt(key) === undefined ? undefined : ops[0] })).toThrow(/another op/)
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

describe('Ledger snapshots', () => {
  it('opens from its snapshot and journal without reading the ops the snapshot covers', async () => {
    const isl = history(6, 700)
    const storage = new CountingStorage()
    const ledger = await Ledger.open({ genesis: isl.genesis, storage, verifier: trusted, snapshotEvery: 200 })
    await applyAll(ledger, isl.ops.slice(0, 650))
    const snapshot = Snapshot.open((await storage.load(SNAPSHOT_KEY))!)
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

    // Both go on the same way, and the reopened one snapshots 150 ops later (200 since its snapshot).
    const more = isl.ops.slice(650)
    expect((await applyAll(reopened, more)).map(summary)).toEqual((await applyAll(ledger, more)).map(summary))
    expect(reopened.stateHash()).toBe(ledger.stateHash())
    expect(reopened.stateHash()).toBe(stateHash(isl.state))
    expect(more.length).toBeLessThan(150)
    expect(Snapshot.open((await storage.load(SNAPSHOT_KEY))!).journal).toBe(400)
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
    const snapshot = Snapshot.open((await storage.load(SNAPSHOT_KEY))!)
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

  it('keeps a fraud proof and a freeze across snapshots, and never reopens from a stale one', async () => {
    const { a, extraB, forkSeq } = forked()
    const storage = new CountingStorage()
    const x = await Ledger.open({ genesis: a.genesis, storage, verifier: trusted, snapshotEvery: 30 })
    await applyAll(x, a.ops, 25)
    expect(Snapshot.open((await storage.load(SNAPSHOT_KEY))!).journal).toBe(0) // after 50 ops: journal from there
    await applyAll(x, extraB, 25) // the conflict makes x replay, then snapshot under the new resolution
    expect(x.rebuilds).toBe(1)
    expect(x.state.frozenAccounts().map(toHex)).toEqual([toHex(a.residents[0]!.publicKey)])
    const reference = await Ledger.open({ genesis: a.genesis, verifier: trusted })
    await reference.applyBatch([...a.ops, ...extraB])
    expect(x.stateHash()).toBe(reference.stateHash())

    storage.reset()
    const reopened = await Ledger.open({ storage, verifier: trusted, snapshotEvery: 30 })
    expect(reopened.lastLoad.from).toBe('snapshot')
    expect(storage.ranges).not.toContain('op')
    expect(reopened.stateHash()).toBe(x.stateHash())
    expect(reopened.state.equivocations).toEqual(x.state.equivocations)
    expect(portrait(reopened.state)).toEqual(portrait(x.state))

    // The registrar lifts the freeze: a replay, then a snapshot under that resolution.
    const unfreeze = unfreezes(a, forkSeq)
    expect((await reopened.applyBatch(unfreeze)).map(r => r.status)).toEqual(['applied', 'applied'])
    expect(reopened.rebuilds).toBe(1)
    await reference.applyBatch(unfreeze)
    expect(reopened.stateHash()).toBe(reference.stateHash())
    const third = await Ledger.open({ storage, verifier: trusted, snapshotEvery: 30 })
    expect(third.lastLoad.from).toBe('snapshot')
    expect(third.stateHash()).toBe(reference.stateHash())
    expect(third.state.frozenAccounts()).toEqual([])
  })

  it('replays when a crash left the snapshot behind an equivocation or an unfreeze', async () => {
    const { a, extraB, forkSeq } = forked()
    const storage = new CountingStorage()
    const x = await Ledger.open({ genesis: a.genesis, storage, verifier: trusted, snapshotEvery: 0 })
    await applyAll(x, a.ops)
    await x.snapshot()
    const reference = await Ledger.open({ genesis: a.genesis, verifier: trusted })
    await reference.applyBatch([...a.ops, ...extraB])

    // The conflicting ops are stored (with their journal entries), the post-replay snapshot is lost.
    storage.failSave = entries => entries.some(e => e.key[0] === 'snapshot')
    await applyAll(x, extraB)
    storage.failSave = undefined
    expect(x.stateHash()).toBe(reference.stateHash())
    const reopened = await Ledger.open({ storage, verifier: trusted, snapshotEvery: 0 })
    expect(reopened.lastLoad.from).toBe('replay')
    expect(reopened.lastLoad.snapshotRefused).toMatch(/equivocation/)
    expect(reopened.stateHash()).toBe(reference.stateHash())
    // That replay refreshed the snapshot (one was there): the next open uses it.
    const next = await Ledger.open({ storage, verifier: trusted, snapshotEvery: 0 })
    expect(next.lastLoad.from).toBe('snapshot')
    expect(next.stateHash()).toBe(reference.stateHash())

    // Same with an unfreeze: it applies without a conflict, but changes the fork resolution.
    const unfreeze = unfreezes(a, forkSeq)
    await reference.applyBatch(unfreeze)
    storage.failSave = entries => entries.some(e => e.key[0] === 'snapshot')
    await next.applyBatch(unfreeze)
    storage.failSave = undefined
    expect(next.stateHash()).toBe(reference.stateHash())
    const last = await Ledger.open({ storage, verifier: trusted, snapshotEvery: 0 })
    expect(last.lastLoad.from).toBe('replay')
    expect(last.lastLoad.snapshotRefused).toMatch(/unfreeze/)
    expect(last.stateHash()).toBe(reference.stateHash())
    expect(last.state.frozenAccounts()).toEqual([])
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
