/**
 * A real full node in its own process (the `microgrid node` command, on 127.0.0.1), a grid authored by
 * an Island in this process, and a light client the tests use as the grid's registrar, oracle and
 * residents: ops signed here are submitted to the node the way a meter's are.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKeyPair, keySigner, type LightFunds, type OpSigner, type PublicKey } from '@microgrid/protocol'
import { Island } from '@microgrid/core/testing'
import { LightClient } from '../../src/light-client.ts'

const NODE_CLI = fileURLToPath(new URL('../../../node/src/cli.ts', import.meta.url))

export interface RunningNode {
  process: ChildProcess
  addr: string
  stop: () => Promise<void>
}

/** Starts `microgrid node` on a data directory; resolves once it listens. */
export async function startNode (dataDir: string, genesisFile: string, port = 0): Promise<RunningNode> {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', NODE_CLI, 'node', '--data', dataDir, '--genesis', genesisFile, '--listen', `/ip4/127.0.0.1/tcp/${port}`, '--no-mdns'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stderr?.on('data', (c: Buffer) => { err += c.toString() })
  const addr = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString()
      const m = /listening (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+)/.exec(out)
      if (m !== null) resolve(m[1] as string)
    })
    child.once('exit', code => reject(new Error(`node exited ${code}: ${err}`)))
    setTimeout(() => reject(new Error(`node did not start: ${out} ${err}`)), 20_000).unref()
  })
  return {
    process: child,
    addr,
    stop: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise(resolve => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
  }
}

export interface TestGrid {
  island: Island
  dir: string
  genesisFile: string
  node: RunningNode
  client: LightClient
  /** Submits every island op not submitted yet; throws unless each is applied (or already known). */
  flush: () => Promise<void>
  /** The balance of an account as the node holds it, and a device's funds. */
  funds: (key: PublicKey, at?: number) => Promise<LightFunds>
  restartNode: () => Promise<void>
  close: () => Promise<void>
}

export async function testGrid (options: { seed: string, start?: number }): Promise<TestGrid> {
  const island = new Island({ seed: options.seed, start: options.start ?? Date.UTC(2026, 5, 1), residents: 2 })
  const dir = await mkdtemp(join(tmpdir(), 'microgrid-meter-'))
  const genesisFile = join(dir, 'grid.genesis')
  await writeFile(genesisFile, island.genesis)
  const nodeDir = join(dir, 'node')
  let node = await startNode(nodeDir, genesisFile)
  let client = await LightClient.start([node.addr])
  let sent = 0
  const grid: TestGrid = {
    island,
    dir,
    genesisFile,
    get node () { return node },
    get client () { return client },
    async flush () {
      while (sent < island.ops.length) {
        const ops = island.ops.slice(sent, sent + 200)
        const r = await client.request({ t: 'submit', grid: island.state.gridId, ops })
        if (r.t !== 'submitted') throw new Error(`submit: ${r.t}`)
        r.results.forEach((x, i) => { if (x.status !== 'applied' && x.status !== 'duplicate') throw new Error(`island op ${sent + i} ${x.status}: ${x.reason ?? ''}`) })
        sent += ops.length
      }
    },
    async funds (key, at) {
      const r = await client.request({ t: 'funds', grid: island.state.gridId, device: key, at: at ?? island.clock.now() })
      if (r.t !== 'funds') throw new Error(`funds: ${r.t}`)
      return r.funds
    },
    async restartNode () {
      const port = Number(/tcp\/(\d+)/.exec(node.addr)?.[1])
      await client.stop()
      await node.stop()
      node = await startNode(nodeDir, genesisFile, port)
      client = await LightClient.start([node.addr])
    },
    async close () {
      await client.stop()
      await node.stop()
    }
  }
  return grid
}

/** A fresh meter key for a test: its signer and its secret key (for a key file). */
export function meterKey (): { signer: OpSigner, secretKey: Uint8Array } {
  const { secretKey } = generateKeyPair()
  return { signer: keySigner(secretKey), secretKey }
}
