import { spawnSync } from 'node:child_process'
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
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
    const node = await runCli(['node', '--data', join(dir, 'n'), '--genesis', join(dir, 'genesis'), '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns'], l => lines.push(l))
    expect(lines.some(l => l.startsWith('invite    microgrid:invite?grid='))).toBe(true)
    await node!.ledger.applyBatch(isl.ops)
    await node!.stop()
    const status: string[] = []
    await runCli(['status', '--data', join(dir, 'n')], l => status.push(l))
    expect(status).toContain(`state hash  ${stateHash(isl.state)}`)
  })

  it('makes a grid: keys kept in 0600 files, a genesis op a node starts from', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'microgrid-cli-'))
    dirs.push(dir)
    const lines: string[] = []
    await runCli(['genesis', '--name', 'Isla', '--currency', 'USD', '--keys', join(dir, 'keys'), '--out', join(dir, 'isla.genesis')], l => lines.push(l))
    expect(lines[0]).toMatch(/^grid +mgrid1/)
    expect((await stat(join(dir, 'keys', 'registrar.key'))).mode & 0o777).toBe(0o600)
    const node = await runCli(['node', '--data', join(dir, 'n'), '--genesis', join(dir, 'isla.genesis'), '--listen', '/ip4/127.0.0.1/tcp/0', '--no-mdns'], () => {})
    expect(`grid      ${gridIdText(node!.ledger.gridId)}`).toBe(lines[0])
    await node!.stop()
    await expect(runCli(['genesis', '--name', 'Isla', '--currency', 'usd', '--keys', join(dir, 'keys'), '--out', join(dir, 'b')], () => {})).rejects.toThrow(/ISO 4217/)
    await expect(runCli(['genesis', '--name', 'Isla', '--currency', 'USD', '--keys', join(dir, 'keys'), '--out', join(dir, 'isla.genesis')], () => {})).rejects.toThrow(/EEXIST/)
  })

  it('refuses wrong arguments with the reason, the usage and exit code 2', async () => {
    await expect(runCli(['node'], () => {})).rejects.toThrow(UsageError)
    await expect(runCli(['fly', '--data', '/tmp/x'], () => {})).rejects.toThrow(/unknown command: fly/)
    await expect(runCli(['node', '--data', '/tmp/x', '--genesis', '/does/not/exist'], () => {})).rejects.toThrow(/cannot read/)
    const run = spawnSync(process.execPath, [cli, 'node', '--bogus'], { encoding: 'utf8' })
    expect(run.status).toBe(2)
    expect(run.stderr).toMatch(/Unknown option '--bogus'/)
    expect(run.stderr).toMatch(/usage:/)
  })
})
