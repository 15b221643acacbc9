/** `microgrid-meter`: init makes the key and config and prints the meter's id and QR label; bad arguments exit 2. */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { accountId, fromHex, publicKeyOf } from '@microgrid/protocol'
import { Island } from '@microgrid/core/testing'

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url))
const run = async (args: string[]): Promise<{ code: number, out: string, err: string }> => {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--disable-warning=ExperimentalWarning', CLI, ...args])
    return { code: 0, out: stdout, err: stderr }
  } catch (e) {
    const err = e as { code: number, stdout: string, stderr: string }
    return { code: err.code, out: err.stdout, err: err.stderr }
  }
}

describe('microgrid-meter command', () => {
  it('init makes a 0600 key and a config, and prints the meter id and its QR label', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'microgrid-meter-cli-'))
    const island = new Island({ seed: 'meter-cli' })
    await writeFile(join(dir, 'grid.genesis'), island.genesis)
    const r = await run(['init', '--config', join(dir, 'meter.json'), '--role', 'consumption', '--genesis', join(dir, 'grid.genesis'), '--node', '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWLRPJAA5o6Z6xAeUhW7jzKbzrqeGBgpJbjN2nCTx7wrut'])
    expect(r.code, r.err).toBe(0)
    const key = publicKeyOf(fromHex((await readFile(join(dir, 'meter.key'), 'utf8')).trim()))
    expect((await stat(join(dir, 'meter.key'))).mode & 0o777).toBe(0o600)
    expect(r.out).toContain(`meter id  ${accountId(key)}`)
    expect(r.out).toContain(`label     microgrid:${accountId(key)}?grid=`)
    expect(r.out).toMatch(/[█▀▄]/) // the QR code, drawn in the terminal
    const config = JSON.parse(await readFile(join(dir, 'meter.json'), 'utf8')) as { role: string, relay: unknown }
    expect(config.role).toBe('consumption')
    // A second init keeps the key.
    const again = await run(['init', '--config', join(dir, 'meter.json')])
    expect(again.out).toContain(accountId(key))
  })

  it('refuses bad arguments with the reason, the usage and exit code 2', async () => {
    for (const args of [[], ['run'], ['launch', '--config', 'x.json'], ['init', '--config', join(tmpdir(), 'no-such-dir-x', 'm.json')], ['run', '--config', 'm.json', '--bogus']]) {
      const r = await run(args)
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.err).toContain('usage:')
    }
    const missing = await run(['run', '--config', join(tmpdir(), 'no-such-config.json')])
    expect(missing.code).toBe(1)
    expect(missing.err).toContain('cannot read')
  })
})
