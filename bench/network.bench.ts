/**
 * Replication benchmark on loopback: gossip propagation across 20+ real libp2p nodes (publish to the
 * last node's apply), and a fresh node syncing a 100,000-op history from a peer, compared with the
 * local ingest rate of the same ops into the same kind of storage, in the same run.
 * `npm exec -- node bench/network.bench.ts [--nodes 20] [--messages 200] [--sync-ops 100000]`
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { decodeOp, toHex } from '@microgrid/protocol'
import { CachingVerifier, Ledger, nativeSigner, nativeVerifier, defaultVerifier } from '@microgrid/core'
import { Island, seededRandom } from '@microgrid/core/testing'
import { MicrogridNode, SqliteStorage } from '@microgrid/node'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '20' },
    messages: { type: 'string', default: '200' },
    'sync-ops': { type: 'string', default: '100000' }
  }
})
const nodeCount = Number(values.nodes)
const messages = Number(values.messages)
const syncOps = Number(values['sync-ops'])
for (const [name, n, min] of [['--nodes', nodeCount, 2], ['--messages', messages, 10], ['--sync-ops', syncOps, 1_000]] as const) {
  if (!Number.isSafeInteger(n) || n < min) throw new RangeError(`${name}: expected an integer ≥ ${min}`)
}
const log = (s: string): void => { process.stderr.write(s + '\n') }
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')
const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))
const signerFor = (sk: Uint8Array) => nativeSigner(sk) ?? (() => { throw new Error('the native signer did not load') })()
const dirs: string[] = []
async function tempDir (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'microgrid-bench-'))
  dirs.push(d)
  return d
}
function percentile (sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)] as number
}

const rows: Array<[string, string]> = []

// 1. Propagation: each op published at a random node; latency until the last node applied it.
{
  const island = new Island({ seed: 'propagation', producers: 6, households: 20, streetLights: 6, residents: 20, signerFor })
  island.simulate(messages, seededRandom(5))
  const ops = island.ops.slice(0, messages)
  const nodes: MicrogridNode[] = []
  for (let i = 0; i < nodeCount; i++) {
    nodes.push(await MicrogridNode.start({ genesis: island.genesis, ...(process.env.PROP_MEMORY === '1' ? {} : { dataDir: await tempDir() }), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, syncIntervalMs: 60_000 }))
  }
  // A random connected graph: a ring, plus three random links per node.
  const random = seededRandom(9)
  for (let i = 0; i < nodeCount; i++) {
    const targets = new Set([(i + 1) % nodeCount])
    while (targets.size < Math.min(4, nodeCount - 1)) { const j = Math.floor(random() * nodeCount); if (j !== i) targets.add(j) }
    for (const j of targets) await nodes[i]!.connect(nodes[j]!.multiaddrs[0]!).catch(() => {})
  }
  await sleep(3_000) // gossipsub heartbeats form the mesh
  const applied = new Map<string, number>()
  const waiting = new Map<string, { remaining: number, done: () => void }>()
  for (const n of nodes) {
    n.on('op', r => {
      if (r.status !== 'applied') return
      const id = toHex(r.id)
      const w = waiting.get(id)
      if (w !== undefined && --w.remaining === 0) { applied.set(id, performance.now()); w.done() }
    })
  }
  const latencies: number[] = []
  let lost = 0
  for (const bytes of ops) {
    const id = toHex(decodeOp(bytes).id)
    const done = new Promise<void>(resolve => waiting.set(id, { remaining: nodeCount, done: resolve }))
    const start = performance.now()
    await nodes[Math.floor(random() * nodeCount)]!.submit(bytes)
    const ok = await Promise.race([done.then(() => true), sleep(10_000).then(() => false)])
    if (ok) latencies.push((applied.get(id) as number) - start)
    else lost++
    waiting.delete(id)
  }
  latencies.sort((a, b) => a - b)
  const hashes = new Set(nodes.map(n => n.stateHash()))
  rows.push(['propagation', `${nodeCount} nodes, ${fmt(ops.length)} ops published at random nodes: p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${latencies.at(-1)?.toFixed(1)} ms to the last node's apply (target p99 < 250 ms)${lost > 0 ? `, ${lost} not everywhere within 10 s` : ''}; ${hashes.size === 1 ? 'all state hashes equal' : 'STATE HASHES DIFFER'}`])
  await Promise.all(nodes.map(async n => await n.stop()))
}

// 2. Sync: a fresh node pulls the whole history from a peer, against local ingest of the same ops.
{
  const island = new Island({ seed: 'sync', producers: 40, households: 300, streetLights: 60, residents: 400, signerFor })
  island.simulate(syncOps, seededRandom(7))
  log(`generated ${fmt(island.ops.length)} ops`)
  const verifierName = defaultVerifier().name

  // Local ingest: the same ops, the same batch size as a sync message, into SQLite, one process.
  const localStorage = await SqliteStorage.open(join(await tempDir(), 'ledger.sqlite'))
  const local = await Ledger.open({ genesis: island.genesis, storage: localStorage, verifier: new CachingVerifier(nativeVerifier() ?? defaultVerifier()) })
  let start = performance.now()
  for (let i = 0; i < island.ops.length; i += 512) await local.applyBatch(island.ops.slice(i, i + 512))
  const localRate = island.ops.length / ((performance.now() - start) / 1000)
  await localStorage.close()

  const dir = await tempDir()
  await writeFile(join(dir, 'genesis'), island.genesis)
  await writeFile(join(dir, 'ops'), Buffer.concat(island.ops.flatMap(op => { const len = Buffer.alloc(4); len.writeUInt32BE(op.length); return [len, op] })))
  const child = spawn(process.execPath, [fileURLToPath(new URL('./fixtures/serve-history.ts', import.meta.url)), join(dir, 'genesis'), join(dir, 'ops'), join(dir, 'source')], { stdio: ['ignore', 'pipe', 'inherit'] })
  const ready = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); if (out.includes('\n')) resolve(out.split('\n')[0] as string) })
    child.on('exit', code => { reject(new Error(`the serving node exited with ${code}`)) })
  })
  const [, address, target] = ready.split(' ') as [string, string, string]
  const fresh = await MicrogridNode.start({ genesis: island.genesis, dataDir: await tempDir(), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, syncIntervalMs: 600_000 })
  start = performance.now()
  const peer = await fresh.connect(address)
  const deadline = start + 600_000
  const pullErrors: string[] = []
  while (fresh.stateHash() !== target && performance.now() < deadline) {
    await fresh.pull(peer).catch((err: unknown) => { pullErrors.push((err as Error).message) })
    if (fresh.stateHash() !== target) await sleep(50)
  }
  const syncRate = island.ops.length / ((performance.now() - start) / 1000)
  const same = fresh.stateHash() === target
  rows.push(['local ingest into SQLite', `${fmt(localRate)} ops/s (${fmt(island.ops.length)} ops, batches of 512, ${verifierName})`])
  rows.push(['sync from a peer', `${fmt(syncRate)} ops/s = ${(syncRate / localRate * 100).toFixed(0)}% of local ingest (target ≥ 70%), the serving node in its own process; ${same ? 'same state hash' : `STATE HASH DIFFERS (${pullErrors.length} pulls failed, the first: ${pullErrors[0] ?? 'none'})`}`])
  child.kill('SIGTERM')
  await fresh.stop()
}

for (const d of dirs) await rm(d, { recursive: true, force: true })
const width = Math.max(...rows.map(r => r[0].length))
console.log(`\nMicrogrid replication benchmark (node ${process.version}, ${process.arch}, loopback)`)
for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`)
process.exit(0)
