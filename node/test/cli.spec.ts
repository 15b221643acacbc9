import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { UsageError, runCli } from '@microgrid/node'
import { stateHash } from '@microgrid/core'
import { gridIdText } from '@microgrid/protocol'
import { Island } from '@microgrid/core/testing'

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url))
const dirs: string[] = []
afterAll(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }) })

describe('microgrid CLI', () => {
  it('runs a node on a data directory, and status reads the ledger it kept', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'microgrid-cli-'))
    dirs.push(dir)
    const isl = new Island({ seed: 'cli', producers: 1, households: 1, residents: 1 })
    isl.simulate(30)
    await writeFile(join(dir, 'genesis'), isl.genesis)
    const lines: string[] = []
    const running = await runCli(['node', '--data', join(dir, 'n'), '--genesis', join(dir, 'genesis'), '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns'], l => lines.push(l))
    expect(lines.some(l => l.startsWith('invite    microgrid:invite?grid='))).toBe(true)
    await running!.node.ledger.applyBatch(isl.ops)
    await running!.stop()
    const status: string[] = []
    await runCli(['status', '--data', join(dir, 'n')], l => status.push(l))
    expect(status).toContain(`state hash  ${stateHash(isl.state)}`)
  })

  it('makes a grid: keys encrypted in a 0600 key ring, a genesis op a node starts from', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'microgrid-cli-'))
    dirs.push(dir)
    const lines: string[] = []
    const io = { env: { ...process.env, MICROGRID_PASSPHRASE: 'genesis pass' } }
    process.env.MICROGRID_PASSPHRASE = 'genesis pass'
    await runCli(['genesis', '--name', 'Isla', '--currency', 'USD', '--keys', join(dir, 'keys'), '--out', join(dir, 'isla.genesis'), '--light-kdf'], l => lines.push(l), io)
    expect(lines[0]).toMatch(/^grid +mgrid1/)
    expect((await stat(join(dir, 'keys', 'registrar.json'))).mode & 0o777).toBe(0o600)
    const keystore = JSON.parse(await readFile(join(dir, 'keys', 'registrar.json'), 'utf8')) as { version: number, crypto: { kdf: string } }
    expect(keystore.version).toBe(3)
    expect(keystore.crypto.kdf).toBe('scrypt')
    const running = await runCli(['node', '--data', join(dir, 'n'), '--genesis', join(dir, 'isla.genesis'), '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns'], () => {})
    expect(`grid      ${gridIdText(running!.node.ledger.gridId)}`).toBe(lines[0])
    await running!.stop()
    await expect(runCli(['genesis', '--name', 'Isla', '--currency', 'usd', '--keys', join(dir, 'keys'), '--out', join(dir, 'b')], () => {})).rejects.toThrow(/ISO 4217/)
    await expect(runCli(['genesis', '--name', 'Isla', '--currency', 'USD', '--keys', join(dir, 'keys'), '--out', join(dir, 'isla.genesis')], () => {})).rejects.toThrow(/EEXIST/)
    // The same key ring again: the registrar's key is reused, so it is the same grid authority.
    const again: string[] = []
    await runCli(['genesis', '--name', 'Isla 2', '--currency', 'USD', '--keys', join(dir, 'keys'), '--out', join(dir, 'two.genesis')], l => again.push(l), io)
    expect(again[1]).toBe(lines[1])
  })

  it('refuses wrong arguments with the reason, the usage and exit code 2', async () => {
    await expect(runCli(['node'], () => {})).rejects.toThrow(UsageError)
    await expect(runCli(['fly', '--data', '/tmp/x'], () => {})).rejects.toThrow(/unknown command: fly/)
    await expect(runCli(['node', '--data', '/tmp/x', '--genesis', '/does/not/exist'], () => {})).rejects.toThrow(/cannot read/)
    const run = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', cli, 'node', '--bogus'], { encoding: 'utf8' })
    expect(run.status).toBe(2)
    expect(run.stderr).toMatch(/Unknown option '--bogus'/)
    expect(run.stderr).toMatch(/usage:/)
  })
})
