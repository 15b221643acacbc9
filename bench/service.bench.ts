/**
 * The node service, measured as people use it, on loopback:
 *
 *  1. Fund-to-light across a 20-node island: a resident's `POST /actions/fund` on its own node's HTTP
 *     API until the funded device's meter agent (a light peer of another node) switches its relay on.
 *     Each device draws 36 kW once on, so the 10 Wh it is given burn in a second and the relay opens
 *     again: the next sample starts from a dark device. Four residents fund at once.
 *  2. Payment-to-units: a Stripe webhook (signed with the stripe library) at the oracle's node until
 *     the buyer's balance shows the units on the buyer's own node (the seller's node settles it).
 *  1 and 2 run twice: with every node in one process (one event loop for the whole island) and with
 *  the nodes spread over `--processes` processes, as households' nodes run on their own machines.
 *  3. API read throughput: `GET /accounts/{id}` (a balance) for random accounts of a node holding
 *     10,000 funded accounts, from a separate load process over keep-alive connections; and the
 *     same for `GET /accounts` (every account, one response).
 *
 * `npm exec -- node bench/service.bench.ts [--nodes 20] [--samples 80] [--payments 40] [--accounts 10000] [--seconds 5] [--processes 4]`
 */
import { fork, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import Stripe from 'stripe'
import { accountId, type OpSigner } from '@microgrid/protocol'
import { nativeSigner } from '@microgrid/core'
import { Island, type Device } from '@microgrid/core/testing'
import { MicrogridNode, createApi, serveApi } from '@microgrid/node'
import { buildIsland, now, type IslandMessage, type IslandRequest } from './fixtures/service-island.ts'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '20' },
    samples: { type: 'string', default: '200' },
    payments: { type: 'string', default: '100' },
    accounts: { type: 'string', default: '10000' },
    seconds: { type: 'string', default: '5' },
    processes: { type: 'string', default: '4' }
  }
})
const nodeCount = Number(values.nodes)
const samples = Number(values.samples)
const payments = Number(values.payments)
const accounts = Number(values.accounts)
const seconds = Number(values.seconds)
const processCount = Number(values.processes)
for (const [name, n, min] of [['--nodes', nodeCount, 3], ['--samples', samples, 4], ['--payments', payments, 2], ['--accounts', accounts, 10], ['--seconds', seconds, 1], ['--processes', processCount, 1]] as const) {
  if (!Number.isSafeInteger(n) || n < min) throw new RangeError(`${name}: expected an integer ≥ ${min}`)
}
const log = (s: string): void => { process.stderr.write(s + '\n') }
const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))
const signerFor = (sk: Uint8Array): OpSigner => nativeSigner(sk) ?? (() => { throw new Error('the native signer did not load') })()
const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)] as number
const summary = (xs: number[]): { p50: number, p99: number, max: number } => {
  const s = [...xs].sort((a, b) => a - b)
  return { p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1] as number }
}
const dirs: string[] = []
async function tempDir (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'microgrid-bench-service-'))
  dirs.push(d)
  return d
}
async function until (ok: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms
  while (!ok()) {
    if (performance.now() > end) throw new Error(`timed out: ${what}`)
    await sleep(2)
  }
}
/** The load generator: its own process, so the node's event loop is measured alone. */
const LOAD_SCRIPT = `
const [url, token, idsFile, mode, concurrency, ms] = process.argv.slice(1)
const ids = JSON.parse(await (await import('node:fs/promises')).readFile(idsFile, 'utf8'))
const end = performance.now() + Number(ms)
const lat = []
let errors = 0
async function worker () {
  while (performance.now() < end) {
    const path = mode === 'one' ? '/api/v1/accounts/' + ids[Math.floor(Math.random() * ids.length)] : '/api/v1/accounts'
    const t = performance.now()
    const res = await fetch(url + path, { headers: { Authorization: 'Bearer ' + token } })
    await res.arrayBuffer()
    if (res.status !== 200) errors++
    lat.push(performance.now() - t)
  }
}
const start = performance.now()
await Promise.all(Array.from({ length: Number(concurrency) }, worker))
const took = performance.now() - start
lat.sort((a, b) => a - b)
const pct = p => lat[Math.min(lat.length - 1, Math.ceil(p / 100 * lat.length) - 1)]
process.stdout.write(JSON.stringify({ rps: lat.length / took * 1000, p50: pct(50), p99: pct(99), errors }))
`

const rows: Array<[string, string]> = []

// 1 and 2: a 20-node island, its nodes in one process and then spread over several (as they would be
// over several machines), each run measured the same way. Node 0 is the utility's (oracle, payments,
// settlement); node i > 0 is household i - 1's, with its resident behind its own HTTP API and its
// household meter's agent (bench/fixtures/service-island.ts).
async function islandRun (processCount: number): Promise<void> {
  const households = nodeCount - 1
  const STRIPE_SECRET = 'whsec_bench'
  const token = randomBytes(16).toString('hex')
  const island = buildIsland('service-bench', households)
  const started = performance.now()
  const workers = Array.from({ length: processCount }, () => fork(fileURLToPath(new URL('./fixtures/service-island.ts', import.meta.url)), [], {
    execArgv: ['--disable-warning=ExperimentalWarning'], stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  }))
  const relayOn = new Map<number, number>()
  const relayState = new Map<number, boolean>()
  const credited = new Map<number, number>()
  const waiting = new Map<ChildProcess, Array<(m: IslandMessage) => void>>()
  for (const w of workers) {
    waiting.set(w, [])
    w.on('message', (m: IslandMessage) => {
      if (m.t === 'relay') { relayState.set(m.device, m.on); if (m.on) relayOn.set(m.device, m.at); return }
      if (m.t === 'credited') { credited.set(m.resident, m.at); return }
      if (m.t === 'error') { log(m.message); process.exit(1) }
      waiting.get(w)?.shift()?.(m)
    })
  }
  const ask = async (w: ChildProcess, r: IslandRequest): Promise<IslandMessage> => await new Promise(resolve => {
    waiting.get(w)?.push(resolve)
    w.send(r)
  })
  const all = async (r: IslandRequest): Promise<IslandMessage[]> => await Promise.all(workers.map(async w => await ask(w, r)))
  // Node i lives in process i mod processCount.
  const home = (i: number): ChildProcess => workers[i % processCount] as ChildProcess
  const addrs: string[] = []
  const apis: string[] = []
  for (const [k, w] of workers.entries()) {
    const mine = Array.from({ length: nodeCount }, (_, i) => i).filter(i => i % processCount === k)
    const m = await ask(w, { t: 'start', seed: 'service-bench', households, nodes: mine })
    if (m.t !== 'started') throw new Error(`unexpected ${m.t}`)
    for (const n of m.nodes) addrs[n.index] = n.addr
  }
  const seeded = await ask(home(0), { t: 'seed' })
  const decided = seeded.t === 'done' ? seeded.decided?.[0] ?? 0 : 0
  // A ring and a few chords, as a village's links might be.
  for (const [k, w] of workers.entries()) {
    const to: Array<[number, string]> = []
    for (let i = k; i < nodeCount; i += processCount) {
      for (const j of new Set([(i + 1) % nodeCount, (i + 5) % nodeCount, 0])) if (j !== i) to.push([i, addrs[j] as string])
    }
    await ask(w, { t: 'connect', to })
  }
  const until0 = performance.now() + 120_000
  for (;;) {
    const counts = (await all({ t: 'decided' })).flatMap(m => m.t === 'done' ? Object.values(m.decided ?? {}) : [])
    if (counts.every(c => c >= decided)) break
    if (performance.now() > until0) throw new Error('timed out: every node to sync the history')
    await sleep(20)
  }
  log(`${nodeCount} nodes in ${processCount} process${processCount === 1 ? '' : 'es'} up and synced (${fmt(decided)} ops) in ${fmt((performance.now() - started) / 1000, 1)} s`)
  for (const m of await all({ t: 'serve', token, stripeSecret: STRIPE_SECRET })) {
    if (m.t !== 'serving') throw new Error(`unexpected ${m.t}`)
    for (const a of m.apis) apis[a.index] = a.api
  }
  await all({ t: 'meters' })
  await sleep(3_000)

  // 1. Fund-to-light: resident r funds the household of node (r + 7) mod n — a device on another node.
  const fundLatencies: number[] = []
  const lanes = 4
  let next = 0
  const busy = new Set<number>()
  const lane = async (): Promise<void> => {
    while (next < samples) {
      next++
      const r = next % households
      let d = (r + 7) % households
      while (busy.has(d) || relayState.get(d) === true) d = (d + 1) % households
      busy.add(d)
      relayOn.delete(d)
      const t0 = now()
      const res = await fetch(`${apis[r + 1] as string}/api/v1/actions/fund`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ device: accountId((island.devices[d] as Device).meter.publicKey), wh: 10 })
      })
      if (res.status !== 200) throw new Error(`fund: ${res.status} ${await res.text()}`)
      await until(() => relayOn.has(d), 20_000, `device ${d} to switch on`)
      fundLatencies.push((relayOn.get(d) as number) - t0)
      await until(() => relayState.get(d) === false, 20_000, `device ${d} to burn its 10 Wh and switch off`)
      busy.delete(d)
    }
  }
  await Promise.all(Array.from({ length: lanes }, lane))
  const where = processCount === 1 ? 'one process' : `${processCount} processes`
  const f = summary(fundLatencies)
  rows.push([`fund-to-light, ${nodeCount}-node island in ${where} (${fundLatencies.length} fundings, ${lanes} at once)`, `p50 ${fmt(f.p50)} ms, p99 ${fmt(f.p99)} ms, max ${fmt(f.max)} ms (target p99 < 500 ms)`])

  // 2. Payment-to-units: a webhook at the oracle's node until the buyer's own node shows the units.
  const payLatencies: number[] = []
  for (let k = 0; k < payments; k++) {
    const i = k % households
    credited.delete(i)
    await ask(home(i + 1), { t: 'watch-balance', node: i + 1, resident: i })
    const payload = JSON.stringify({
      id: `evt_bench_${k}`, object: 'event', type: 'payment_intent.succeeded', created: Math.floor(Date.now() / 1000), livemode: false,
      data: { object: { id: `pi_bench_${k}`, object: 'payment_intent', amount: 1, amount_received: 1, currency: 'usd', status: 'succeeded',
        metadata: { payer: accountId((island.residents[i] as OpSigner).publicKey), payee: accountId(island.utility.publicKey), contract: 'retail-seller' } } }
    })
    const t0 = now()
    const res = await fetch(`${apis[0] as string}/api/v1/payments/stripe`, {
      method: 'POST', body: payload,
      headers: { 'Content-Type': 'application/json', 'Stripe-Signature': Stripe.webhooks.generateTestHeaderString({ payload, secret: STRIPE_SECRET }) }
    })
    if (res.status !== 200) throw new Error(`webhook: ${res.status} ${await res.text()}`)
    await until(() => credited.has(i), 20_000, `payment ${k} to reach the buyer's node`)
    payLatencies.push((credited.get(i) as number) - t0)
    await sleep(50)
  }
  const p = summary(payLatencies)
  rows.push([`payment-to-units, ${nodeCount} nodes in ${where}, Stripe webhook to the buyer's node (${payments} payments)`, `p50 ${fmt(p.p50)} ms, p99 ${fmt(p.p99)} ms, max ${fmt(p.max)} ms (target p99 < 1,000 ms)`])

  await all({ t: 'stop' })
  await Promise.all(workers.map(async w => { if (w.exitCode === null) await new Promise(resolve => w.once('exit', resolve)) }))
}
await islandRun(1)
if (processCount > 1) await islandRun(processCount)

// 3. Read throughput: one node with `accounts` funded accounts; the load comes from another process.
{
  const island = new Island({ seed: 'service-reads', producers: 4, signerFor })
  const people = Array.from({ length: accounts }, (_, i) => island.signer(`reader-${i}`))
  const perMint = 5_000
  const needWh = accounts * 100
  for (let i = 0; i * perMint < needWh + perMint * 4; i++) island.mint(island.producers[i % 4] as NonNullable<typeof island.producers[0]>, perMint)
  for (const p of island.producers) island.sellWholesale(p, Math.ceil(needWh / 4 * 8_000 / 1_000_000) + 10)
  for (const person of people) island.sellRetail(person, 1) // 1 ¢: 80 Wh each
  const node = await MicrogridNode.start({ genesis: island.genesis, dataDir: await tempDir(), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
  const t0 = performance.now()
  const batch = 2_000
  for (let i = 0; i < island.ops.length; i += batch) await node.ledger.applyBatch(island.ops.slice(i, i + batch))
  log(`read node: ${fmt(island.ops.length)} ops applied in ${fmt((performance.now() - t0) / 1000, 1)} s`)
  const token = randomBytes(16).toString('hex')
  const api = await serveApi(createApi({ node, token, signers: new Map() }), { port: 0 })
  const ids = people.map(s => accountId(s.publicKey))
  const dir = await tempDir()
  await writeFile(join(dir, 'ids.json'), JSON.stringify(ids))
  const load = async (path: string, concurrency: number): Promise<{ rps: number, p50: number, p99: number, errors: number }> => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', LOAD_SCRIPT, api.url, token, join(dir, 'ids.json'), path, String(concurrency), String(seconds * 1000)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (c: Buffer) => { out += c.toString() })
    await new Promise(resolve => child.on('exit', resolve))
    return JSON.parse(out) as { rps: number, p50: number, p99: number, errors: number }
  }
  const one = await load('one', 32)
  rows.push([`GET /accounts/{id}, ${fmt(accounts)} accounts (32 connections, ${seconds} s)`, `${fmt(one.rps)} req/s, p50 ${fmt(one.p50, 1)} ms, p99 ${fmt(one.p99, 1)} ms, ${one.errors} errors`])
  const all = await load('all', 4)
  rows.push([`GET /accounts (all ${fmt(accounts)}+ in one response; 4 connections)`, `${fmt(all.rps, 1)} req/s, p50 ${fmt(all.p50)} ms, p99 ${fmt(all.p99)} ms, ${all.errors} errors`])
  await api.close()
  await node.stop()
}

for (const d of dirs) await rm(d, { recursive: true, force: true })
const width = Math.max(...rows.map(r => r[0].length))
process.stdout.write('\nnode service (loopback)\n')
for (const [k, v] of rows) process.stdout.write(`  ${k.padEnd(width)}  ${v}\n`)
