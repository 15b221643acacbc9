/**
 * The one-file build (`npm run build -w node` → dist/microgrid.mjs): the node as it is deployed, and
 * as the scale benchmark measures it. Built here into a temporary directory with the same options.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { build } from 'esbuild'
import { Island } from '@microgrid/core/testing'

const nodeDir = fileURLToPath(new URL('..', import.meta.url))
const options = {
  bundle: true, platform: 'node', format: 'esm', target: 'node22', logLevel: 'warning',
  banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" }
} as const
let dir = ''
let cli = ''

beforeAll(async () => {
  // Inside the package, so the native verifier resolves from its node_modules as it would beside dist/.
  dir = await mkdtemp(join(nodeDir, '.bundle-test-'))
  cli = join(dir, 'microgrid.mjs')
  // As `npm run build -w node` does: the CLI and the verifier pool's worker, side by side.
  await build({ ...options, entryPoints: { microgrid: join(nodeDir, 'src', 'cli.ts'), 'verify-worker': join(nodeDir, '..', 'core', 'src', 'verify-worker.ts') }, outdir: dir, outExtension: { '.js': '.mjs' } })
}, 60_000)
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

const run = (file: string, args: string[]): ReturnType<typeof spawnSync> =>
  spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', file, ...args], { encoding: 'utf8', timeout: 30_000 })

describe('the one-file build of the node', () => {
  it('runs the CLI: help, and a usage error with exit code 2', () => {
    const help = run(cli, ['--help'])
    expect(help.status).toBe(0)
    expect(help.stdout).toMatch(/^usage: microgrid <command>/)
    const bad = run(cli, ['fly'])
    expect(bad.status).toBe(2)
    expect(bad.stderr).toContain('unknown command: fly')
  })

  it('runs a node on a data directory (libp2p, SQLite) until SIGTERM', async () => {
    const isl = new Island({ seed: 'bundle', producers: 1, households: 1, residents: 1 })
    await writeFile(join(dir, 'genesis'), isl.genesis)
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', cli, 'node', '--data', join(dir, 'n'), '--genesis', join(dir, 'genesis'), '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (b: Buffer) => { out += b.toString() })
    child.stderr.on('data', (b: Buffer) => { out += b.toString() })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`no invite line in 20 s:\n${out}`)) }, 20_000)
      child.stdout.on('data', () => { if (out.includes('invite    microgrid:invite?grid=')) { clearTimeout(timer); resolve() } })
    })
    child.kill('SIGTERM')
    const code = await new Promise(resolve => child.on('exit', resolve))
    expect(code, out).toBe(0)
  }, 40_000)

  it('does not run the CLI when another program bundles the node as a library; the native verifier and the pool load', async () => {
    const entry = join(dir, 'other.ts')
    await writeFile(entry, [
      "import { runCli } from '@microgrid/node'",
      "import { defaultVerifier, VerifierPool } from '@microgrid/core'",
      'const pool = await VerifierPool.start({ workers: 1 })',
      'console.log(typeof runCli, defaultVerifier().name, pool?.name)',
      'await pool?.close()'
    ].join('\n'))
    const other = join(dir, 'other.mjs')
    await build({ ...options, entryPoints: [entry], outfile: other })
    const r = run(other, [])
    expect(r.status).toBe(0)
    expect(r.stdout).toBe('function libsecp256k1 libsecp256k1 × 1 threads\n')
  })
})
