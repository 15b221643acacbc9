/**
 * kill -9 while ingesting. A publisher node in this process streams an Island's ops over gossip to a
 * full node in a child process (fixtures/crash-node.ts, SQLite in its data directory), which prints
 * `ack <id>` for every op once the batch holding it is committed. At a random moment mid-stream the
 * child gets SIGKILL. Then its SQLite file, opened with the core Ledger, must hold every op it
 * acknowledged, accepted, with the supply invariant intact (nothing half-applied); and restarted on the
 * same data directory it must catch up with the publisher. Three kills at three moments, each in a
 * later part of the stream, on the same data directory.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { DatabaseSync } from 'node:sqlite'
import { afterAll, expect, it } from 'vitest'
import { MicrogridNode } from '@microgrid/node'
import { Ledger, nativeSigner, type LedgerState } from '@microgrid/core'
import { Island, seededRandom } from '@microgrid/core/testing'
import { decodeOp, fromHex, keySigner, toHex, type SignedOp } from '@microgrid/protocol'
import { SqliteStorage } from '../src/sqlite-storage.ts'

const CHILD = fileURLToPath(new URL('./fixtures/crash-node.ts', import.meta.url))
const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

async function waitFor (what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(20)
  }
}

/** One run of the child process, and what it printed. */
class ChildNode {
  readonly proc: ChildProcess
  readonly acks: string[] = []
  hash = ''
  address = ''
  stderr = ''
  readonly closed: Promise<void>
  readonly #onAck: Array<() => void> = []

  constructor (dataDir: string, genesisFile: string, dial: string) {
    this.proc = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', CHILD, dataDir, genesisFile, dial], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.proc.stderr!.on('data', (chunk: Buffer) => { this.stderr += chunk.toString() })
    const lines = createInterface({ input: this.proc.stdout! })
    lines.on('line', line => {
      const [word, value = ''] = line.split(' ')
      if (word === 'ack') {
        this.acks.push(value)
        for (const f of this.#onAck) f()
      } else if (word === 'hash') this.hash = value
      else if (word === 'ready') this.address = value
    })
    // Everything the child wrote before it died is still read: wait for the end of its stdout.
    this.closed = new Promise(resolve => lines.once('close', resolve))
  }

  get peerId (): string {
    return this.address.slice(this.address.lastIndexOf('/p2p/') + 5)
  }

  onAck (f: () => void): void {
    this.#onAck.push(f)
  }

  async ready (): Promise<void> {
    await waitFor(`the child to start\n${this.stderr}`, () => this.address !== '' || this.proc.exitCode !== null, 20_000)
    if (this.address === '') throw new Error(`the child exited: ${this.stderr}`)
  }
}

function supplyHolds (state: LedgerState): boolean {
  return state.chains.reduce((sum, c) => sum + c.balance, 0) === state.minted - state.burned
}

const cleanup: Array<() => Promise<unknown>> = []
afterAll(async () => {
  for (const f of cleanup.reverse()) await f().catch(() => undefined)
})

it('every op acknowledged before a kill -9 is there after it, and the node catches up on restart', async () => {
  const seed = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 1e6))
  const random = seededRandom(seed)
  console.log(`crash test seed ${seed} (rerun with CRASH_SEED=${seed})`)

  const island = new Island({ seed: 'crash', producers: 3, households: 4, residents: 4, signerFor: sk => nativeSigner(sk) ?? keySigner(sk) })
  const ROUNDS = 3
  const SLICE = 500
  island.simulate(ROUNDS * SLICE)
  const byId = new Map<string, SignedOp>()
  for (const bytes of island.ops) {
    const { op, id } = decodeOp(bytes)
    byId.set(toHex(id), op)
  }

  const dir = await mkdtemp(join(tmpdir(), 'mg-crash-'))
  cleanup.push(async () => await rm(dir, { recursive: true, force: true }))
  const dataDir = join(dir, 'node')
  const genesisFile = join(dir, 'genesis.op')
  await writeFile(genesisFile, island.genesis)
  const publisher = await MicrogridNode.start({ genesis: island.genesis, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, syncIntervalMs: 500 })
  cleanup.push(async () => await publisher.stop())
  const publisherAddress = publisher.multiaddrs[0]!.toString()

  const acked = new Set<string>()
  let child = new ChildNode(dataDir, genesisFile, publisherAddress)
  cleanup.push(async () => { child.proc.kill('SIGKILL') })
  for (let round = 0; round < ROUNDS; round++) {
    await child.ready()
    // (Re)started: it catches up with everything the publisher holds before the stream goes on.
    await waitFor(`run ${round} to catch up (${child.hash} vs ${publisher.stateHash()})\n${child.stderr}`, () => child.hash === publisher.stateHash())
    await waitFor('the child to join the topic', () => publisher.libp2p.services.pubsub.getSubscribers(publisher.topic).some(p => p.toString() === child.peerId))

    // Stream the next slice; SIGKILL after a random number of acks in this slice, a few ms later.
    const killAfter = 20 + Math.floor(random() * (SLICE * 0.6))
    const delay = Math.floor(random() * 10)
    const before = child.acks.length
    let killing = false
    let publishedAtKill = -1
    let published = 0
    const victim = child
    victim.onAck(() => {
      if (!killing && victim.acks.length - before >= killAfter) {
        killing = true
        setTimeout(() => {
          publishedAtKill = published
          victim.proc.kill('SIGKILL')
        }, delay)
      }
    })
    const slice = island.ops.slice(round * SLICE, round === ROUNDS - 1 ? undefined : (round + 1) * SLICE)
    for (; published < slice.length; published++) {
      expect((await publisher.submit(slice[published]!)).status).toBe('applied')
      if (published % 10 === 9) await sleep(2) // a steady stream, not one burst
      // Never far ahead of the child (a loaded machine slows it): the kill must land mid-stream.
      while (!killing && published - (victim.acks.length - before) > 40) await sleep(2)
    }
    await waitFor(`the kill in run ${round}`, () => victim.proc.exitCode !== null || victim.proc.signalCode !== null)
    await victim.closed
    expect(victim.proc.signalCode).toBe('SIGKILL')
    for (const id of victim.acks) acked.add(id)
    // Killed mid-stream: while the publisher was still publishing this slice, and before the child
    // had acknowledged all of it.
    const ackedNow = victim.acks.length - before
    console.log(`run ${round}: killed with ${publishedAtKill}/${slice.length} published and ${ackedNow} acked (asked for ${killAfter} acks + ${delay} ms), ${acked.size} acked in all`)
    expect(ackedNow).toBeGreaterThanOrEqual(killAfter)
    expect(ackedNow).toBeLessThan(slice.length)
    expect(publishedAtKill).toBeGreaterThan(0)
    expect(publishedAtKill).toBeLessThan(slice.length)

    // The data directory, as the crash left it.
    const dbFile = join(dataDir, 'ledger.sqlite')
    const db = new DatabaseSync(dbFile)
    expect(db.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' })
    db.close()
    const storage = SqliteStorage.open(dbFile)
    const ledger = await Ledger.open({ storage })
    try {
      const state = ledger.state
      for (const id of acked) {
        const op = byId.get(id)
        expect(op, `acked op ${id} is an op of the Island`).toBeDefined()
        expect(state.statusOf(op!.author, op!.seq, fromHex(id)), `acked op ${id}`).toBe('accepted')
      }
      expect(supplyHolds(state)).toBe(true)
      // Nothing else came in: every stored op is an Island op, and every one the Island applied.
      const stored = (await storage.loadRange(['op'])).map(e => e.key[3] as string)
      expect(stored.filter(id => !byId.has(id))).toEqual([])
      expect(stored.length).toBeGreaterThanOrEqual(acked.size)
      expect(state.pendingCount + state.decidedCount).toBe(stored.length)
    } finally {
      await storage.close()
    }

    // Restart on the same data directory (the next run begins by catching up).
    child = new ChildNode(dataDir, genesisFile, publisherAddress)
  }
  await child.ready()
  const target = publisher.stateHash()
  await waitFor(`the last restart to catch up\n${child.stderr}`, () => child.hash === target)
  expect(target).toBe((await import('@microgrid/core')).stateHash(island.state))
  child.proc.kill('SIGTERM')
  await child.closed
}, 60_000)

it('restarts on a data directory whose history, read back in storage order, holds more waiting ops than maxPending', async () => {
  // The ledger replays stored ops in key order (author, seq), not in causal order, so during the replay
  // ops wait for the chains that sort after their author. A node that never had more than a handful of
  // ops pending while running must still be able to restart; at scale the default bound (100,000) is
  // reached the same way, here a bound of 20 shows it with 300 ops.
  const island = new Island({ seed: 'replay', producers: 2, households: 3, residents: 3 })
  island.simulate(300)
  const dir = await mkdtemp(join(tmpdir(), 'mg-replay-'))
  cleanup.push(async () => await rm(dir, { recursive: true, force: true }))
  const init = { genesis: island.genesis, dataDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, maxPending: 20 }
  const first = await MicrogridNode.start(init)
  let mostPending = 0
  for (const op of island.ops) {
    expect((await first.submit(op)).status).toBe('applied') // in causal order: nothing ever waits
    mostPending = Math.max(mostPending, first.ledger.state.pendingCount)
  }
  expect(mostPending).toBe(0)
  const hash = first.stateHash()
  await first.stop()
  const again = await MicrogridNode.start(init)
  cleanup.push(async () => await again.stop())
  expect(again.stateHash()).toBe(hash)
})
