/**
 * The first commands, kept working: `node` (a node without the API or services), `genesis` (a grid
 * with its registrar and oracle keys in a key ring of their own) and the offline `status`, which reads
 * a ledger directly (a data directory `node` made, or `status --offline` while the node is stopped).
 */
import { access, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  DEFAULT_BEACON_INTERVAL_MS, DEFAULT_MINT_SLACK_MS, PROTOCOL_VERSION, accountId, compareBytes, gridIdText, signOp, type UnsignedOp
} from '@microgrid/protocol'
import { Ledger } from '@microgrid/core'
import { currencyDigits } from '../api/context.ts'
import { KeyRing } from '../keys.ts'
import { LIGHT_SCRYPT, STANDARD_SCRYPT } from '../keystore.ts'
import { MicrogridNode } from '../node.ts'
import { SqliteStorage } from '../sqlite-storage.ts'
import { CliError, UsageError, dialPeers, flag, list, optional, required, type Context, type Running } from './common.ts'
import { passphrase, passphraseError, paths, readRun } from './datadir.ts'

async function exists (path: string): Promise<boolean> {
  return await access(path).then(() => true, () => false)
}

/** `microgrid node`: a node on a data directory, without the API or services (as before `start`). */
export async function nodeCommand (ctx: Context): Promise<Running> {
  const genesisFile = optional(ctx, 'genesis')
  let genesis: Uint8Array | undefined
  if (genesisFile !== undefined) {
    try {
      genesis = await readFile(genesisFile)
    } catch (err) {
      throw new UsageError(`--genesis: cannot read ${genesisFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, ctx.command)
    }
  }
  const listen = list(ctx, 'listen')
  const node = await MicrogridNode.start({
    genesis,
    dataDir: ctx.dataDir,
    ...(listen.length > 0 ? { listen } : {}),
    bootstrap: list(ctx, 'bootstrap'),
    mdns: !flag(ctx, 'no-mdns'),
    relay: flag(ctx, 'relay'),
    webrtc: flag(ctx, 'webrtc')
  })
  const { connected, failed } = await dialPeers(node, list(ctx, 'peer'))
  ctx.result({
    grid: gridIdText(node.ledger.gridId), peerId: node.peerId, addresses: node.multiaddrs.map(String), invite: node.invite(),
    ops: node.ledger.state.decidedCount, stateHash: node.stateHash(), connected, failed
  }, () => [
    `grid      ${gridIdText(node.ledger.gridId)}`,
    `peer id   ${node.peerId}`,
    ...node.multiaddrs.map(ma => `listening ${ma.toString()}`),
    `invite    ${node.invite()}`,
    `state     ${node.ledger.state.decidedCount} ops, hash ${node.stateHash()}`,
    ...connected.map(p => `connected ${p}`),
    ...failed.map(f => `could not reach ${f.peer}: ${f.error}`)
  ])
  node.on('sync:done', ({ peer, received }) => { if (received > 0) ctx.note(`synced    ${received} ops from ${peer}`) })
  node.on('peer:bad', ({ peer, reason, banned }) => ctx.note(`${banned ? 'banned   ' : 'bad peer '} ${peer}: ${reason}`))
  return { node, stop: async () => await node.stop() }
}

/** `microgrid genesis`: a grid's genesis op, with a registrar and an oracle key made (or reused) in the key ring `--keys`. */
export async function genesisCommand (ctx: Context): Promise<undefined> {
  const name = required(ctx, 'name', 'grid name')
  const currency = required(ctx, 'currency', 'ISO 4217 code')
  const keysDir = required(ctx, 'keys', 'dir')
  const out = required(ctx, 'out', 'file')
  if (!/^[A-Z]{3}$/.test(currency)) throw new UsageError(`--currency: expected an ISO 4217 code in capitals such as USD, got ${JSON.stringify(currency)}`, ctx.command)
  if (await exists(out)) throw new CliError(`--out: ${out} already exists (EEXIST); nothing was changed`, { code: 'exists' })
  const ring = await KeyRing.open(keysDir)
  const fresh = ring.get('registrar') === undefined || ring.get('oracle') === undefined
  const pass = await passphrase(ctx, fresh && ring.list().length === 0)
  const kdf = flag(ctx, 'light-kdf') ? LIGHT_SCRYPT : STANDARD_SCRYPT
  const signerOf = async (role: string): Promise<ReturnType<KeyRing['signer']>> => {
    if (ring.get(role) === undefined) await ring.create(role, pass, { kdf })
    return ring.signer(role, pass)
  }
  let registrar, oracle
  try {
    registrar = await signerOf('registrar')
    oracle = await signerOf('oracle')
  } catch (err) {
    throw passphraseError(err)
  }
  let signed
  try {
    signed = signOp({
      v: PROTOCOL_VERSION, grid: null, kind: 'genesis', author: registrar.publicKey, seq: 0, prev: null, deps: [], ts: Date.now(),
      body: {
        name, currency, registrars: [registrar.publicKey], oracles: [oracle.publicKey].sort(compareBytes),
        policy: { friendlyCreditHours: [], beaconIntervalMs: DEFAULT_BEACON_INTERVAL_MS, mintSlackMs: DEFAULT_MINT_SLACK_MS }
      }
    } as UnsignedOp, registrar)
  } catch (err) {
    throw new UsageError(`genesis: ${(err as Error).message}`, ctx.command)
  }
  await writeFile(out, signed.bytes, { flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
    throw new CliError(`--out: cannot write ${out} (${err.code ?? err.message})`, { code: 'write-failed' })
  })
  const json = {
    grid: gridIdText(signed.id),
    registrar: accountId(registrar.publicKey),
    oracle: accountId(oracle.publicKey),
    keys: keysDir,
    genesis: out
  }
  ctx.result(json, () => [
    `grid      ${json.grid}`,
    `registrar ${json.registrar} (key in ${ring.path('registrar')})`,
    `oracle    ${json.oracle} (key in ${ring.path('oracle')})`,
    `genesis   ${out}`
  ])
  return undefined
}

/** `microgrid status` without the API: reads the ledger file of a stopped node (or of a `node` data directory). */
export async function offlineStatus (ctx: Context): Promise<undefined> {
  const file = paths(ctx.dataDir).ledger
  if (!(await exists(file))) throw new CliError(`no ledger in ${ctx.dataDir} (${file}): the node has not run there yet`, { code: 'no-ledger' })
  const run = await readRun(ctx.dataDir)
  if (run !== undefined) {
    throw new CliError(`the node of ${ctx.dataDir} is running (pid ${run.pid}): ask it with \`microgrid status\` (without --offline)`, { code: 'running' })
  }
  const storage = SqliteStorage.open(join(ctx.dataDir, 'ledger.sqlite'))
  try {
    const ledger = await Ledger.open({ storage })
    const state = ledger.state
    const json = {
      running: false,
      grid: { id: gridIdText(ledger.gridId), name: state.genesis.name, currency: { code: state.genesis.currency, digits: currencyDigits(state.genesis.currency) } },
      ops: { decided: state.decidedCount, pending: state.pendingCount },
      stateHash: ledger.stateHash(),
      forks: state.equivocations.length,
      frozen: state.frozenAccounts().length,
      supply: { mintedWh: state.minted, burnedWh: state.burned }
    }
    ctx.result(json, () => [
      `grid        ${json.grid.id}`,
      `ops         ${state.decidedCount} decided, ${state.pendingCount} pending`,
      `supply      ${state.minted - state.burned} Wh (minted ${state.minted}, burned ${state.burned})`,
      `forks       ${state.equivocations.length}, frozen accounts ${state.frozenAccounts().length}`,
      `state hash  ${ledger.stateHash()}`
    ])
  } finally {
    await storage.close()
  }
  return undefined
}
