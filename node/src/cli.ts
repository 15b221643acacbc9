#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
/**
 * `microgrid`: run a household's node, or look at its ledger.
 *
 *   microgrid node --data <dir> [--genesis <file>] [--listen <multiaddr>]… [--peer <multiaddr|invite>]…
 *                  [--bootstrap <multiaddr>]… [--no-mdns] [--relay] [--webrtc]
 *   microgrid status --data <dir>
 *   microgrid genesis --name <grid name> --currency <ISO 4217> --keys <dir> --out <file>
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import {
  DEFAULT_BEACON_INTERVAL_MS, DEFAULT_MINT_SLACK_MS, OpDecodeError, PROTOCOL_VERSION, accountId, fromHex, generateKeyPair, gridIdText, keySigner, signOp, toHex
} from '@microgrid/protocol'
import { Ledger } from '@microgrid/core'
import { MicrogridNode } from './node.ts'
import { SqliteStorage } from './sqlite-storage.ts'

const USAGE = `usage:
  microgrid node --data <dir> [--genesis <file>] [--listen <multiaddr>]... [--peer <multiaddr|invite>]...
                 [--bootstrap <multiaddr>]... [--no-mdns] [--relay] [--webrtc]
  microgrid status --data <dir>
  microgrid genesis --name <grid name> --currency <ISO 4217> --keys <dir> --out <file>`

export class UsageError extends Error {
  override readonly name = 'UsageError'
}

function parse (args: string[]): ReturnType<typeof parseArgs<{ options: typeof OPTIONS, allowPositionals: true, strict: true }>> {
  try {
    return parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

const OPTIONS = {
  data: { type: 'string' },
  genesis: { type: 'string' },
  listen: { type: 'string', multiple: true },
  peer: { type: 'string', multiple: true },
  bootstrap: { type: 'string', multiple: true },
  'no-mdns': { type: 'boolean' },
  relay: { type: 'boolean' },
  webrtc: { type: 'boolean' },
  name: { type: 'string' },
  currency: { type: 'string' },
  keys: { type: 'string' },
  out: { type: 'string' },
  help: { type: 'boolean', short: 'h' }
} as const

/** A secret key kept as hex in a 0600 file: read it, or make it when there is none. */
async function keyFile (path: string): Promise<Uint8Array> {
  try {
    return fromHex((await readFile(path, 'utf8')).trim())
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new UsageError(`${path}: ${(err as Error).message}`)
  }
  const { secretKey } = generateKeyPair()
  await writeFile(path, toHex(secretKey) + '\n', { mode: 0o600, flag: 'wx' })
  return secretKey
}

/** Writes a new grid's genesis op, with a registrar and a payment-oracle key made (or reused) in `keys`. */
async function makeGenesis (values: { name?: string, currency?: string, keys?: string, out?: string }, out: (line: string) => void): Promise<void> {
  if (values.name === undefined || values.currency === undefined || values.keys === undefined || values.out === undefined) {
    throw new UsageError('genesis needs --name, --currency, --keys and --out')
  }
  await mkdir(values.keys, { recursive: true, mode: 0o700 })
  const registrar = keySigner(await keyFile(join(values.keys, 'registrar.key')))
  const oracle = keySigner(await keyFile(join(values.keys, 'oracle.key')))
  let signed
  try {
    signed = signOp({
      v: PROTOCOL_VERSION, grid: null, kind: 'genesis', author: registrar.publicKey, seq: 0, prev: null, deps: [], ts: Date.now(),
      body: {
        name: values.name, currency: values.currency, registrars: [registrar.publicKey], oracles: [oracle.publicKey],
        policy: { friendlyCreditHours: [], beaconIntervalMs: DEFAULT_BEACON_INTERVAL_MS, mintSlackMs: DEFAULT_MINT_SLACK_MS }
      }
    }, registrar)
  } catch (err) {
    if (err instanceof OpDecodeError) throw new UsageError(`genesis: ${err.message}`)
    throw err
  }
  await writeFile(values.out, signed.bytes, { flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`--out: cannot write ${values.out} (${err.code ?? err.message})`)
  })
  out(`grid      ${gridIdText(signed.id)}`)
  out(`registrar ${accountId(registrar.publicKey)} (key in ${join(values.keys, 'registrar.key')})`)
  out(`oracle    ${accountId(oracle.publicKey)} (key in ${join(values.keys, 'oracle.key')})`)
  out(`genesis   ${values.out}`)
}

export async function main (args: string[], out: (line: string) => void): Promise<MicrogridNode | undefined> {
  const { values, positionals } = parse(args)
  const command = positionals[0]
  if (values.help === true || command === undefined) {
    out(USAGE)
    return undefined
  }
  if (positionals.length > 1) throw new UsageError(`unexpected argument: ${positionals[1]}`)
  if (command === 'genesis') {
    await makeGenesis(values, out)
    return undefined
  }
  if (values.data === undefined) throw new UsageError('--data <dir> is required: where the node keeps its ledger and peer key')
  if (command === 'status') {
    const storage = SqliteStorage.open(join(values.data, 'ledger.sqlite'))
    try {
      const ledger = await Ledger.open({ storage })
      const state = ledger.state
      out(`grid        ${gridIdText(ledger.gridId)}`)
      out(`ops         ${state.decidedCount} decided, ${state.pendingCount} pending`)
      out(`supply      ${state.minted - state.burned} Wh (minted ${state.minted}, burned ${state.burned})`)
      out(`forks       ${state.equivocations.length}, frozen accounts ${state.frozenAccounts().length}`)
      out(`state hash  ${ledger.stateHash()}`)
    } finally {
      await storage.close()
    }
    return undefined
  }
  if (command !== 'node') throw new UsageError(`unknown command: ${command}`)
  let genesis: Uint8Array | undefined
  if (values.genesis !== undefined) {
    try {
      genesis = await readFile(values.genesis)
    } catch (err) {
      throw new UsageError(`--genesis: cannot read ${values.genesis} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
    }
  }
  const node = await MicrogridNode.start({
    genesis,
    dataDir: values.data,
    ...(values.listen !== undefined ? { listen: values.listen } : {}),
    bootstrap: values.bootstrap ?? [],
    mdns: values['no-mdns'] !== true,
    relay: values.relay === true,
    webrtc: values.webrtc === true
  })
  out(`grid      ${gridIdText(node.ledger.gridId)}`)
  out(`peer id   ${node.peerId}`)
  for (const ma of node.multiaddrs) out(`listening ${ma.toString()}`)
  out(`invite    ${node.invite()}`)
  out(`state     ${node.ledger.state.decidedCount} ops, hash ${node.stateHash()}`)
  for (const peer of values.peer ?? []) {
    try {
      out(`connected ${await node.connect(peer)}`)
    } catch (err) {
      out(`could not reach ${peer}: ${(err as Error).message}`)
    }
  }
  node.on('sync:done', ({ peer, received }) => { if (received > 0) out(`synced    ${received} ops from ${peer}`) })
  node.on('peer:bad', ({ peer, reason, banned }) => out(`${banned ? 'banned   ' : 'bad peer '} ${peer}: ${reason}`))
  return node
}

if (import.meta.main === true || process.argv[1]?.endsWith('cli.ts') === true) {
  // Output piped into `head` and closed early is not an error of ours.
  process.stdout.on('error', err => { if ((err as NodeJS.ErrnoException).code === 'EPIPE') process.exit(0); else throw err })
  const print = (line: string): void => { process.stdout.write(line + '\n') }
  main(process.argv.slice(2), print).then(node => {
    if (node === undefined) return
    const stop = (): void => { void node.stop().then(() => process.exit(0)) }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  }, err => {
    process.stderr.write(`microgrid: ${(err as Error).message}\n`)
    if (err instanceof UsageError) process.stderr.write(USAGE + '\n')
    process.exit(err instanceof UsageError ? 2 : 1)
  })
}
