#!/usr/bin/env -S node --disable-warning=ExperimentalWarning
/**
 * `microgrid`: run a household's node, or look at its ledger.
 *
 *   microgrid node --data <dir> [--genesis <file>] [--listen <multiaddr>]… [--peer <multiaddr|invite>]…
 *                  [--bootstrap <multiaddr>]… [--no-mdns] [--relay] [--webrtc]
 *   microgrid status --data <dir>
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { gridIdText } from '@microgrid/protocol'
import { Ledger } from '@microgrid/core'
import { MicrogridNode } from './node.ts'
import { SqliteStorage } from './sqlite-storage.ts'

const USAGE = `usage:
  microgrid node --data <dir> [--genesis <file>] [--listen <multiaddr>]... [--peer <multiaddr|invite>]...
                 [--bootstrap <multiaddr>]... [--no-mdns] [--relay] [--webrtc]
  microgrid status --data <dir>`

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
  help: { type: 'boolean', short: 'h' }
} as const

export async function main (args: string[], out: (line: string) => void): Promise<MicrogridNode | undefined> {
  const { values, positionals } = parse(args)
  const command = positionals[0]
  if (values.help === true || command === undefined) {
    out(USAGE)
    return undefined
  }
  if (positionals.length > 1) throw new UsageError(`unexpected argument: ${positionals[1]}`)
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
