/** The peer key file: made once (0600, atomically), the same key at every load, never replaced when damaged. */
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreatePeerKey } from '../src/identity.ts'

let dir: string
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'microgrid-identity-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

/** Above Linux's highest pid_max (2^22): no process has it. */
const DEAD_PID = 4_194_305

describe('loadOrCreatePeerKey', () => {
  it('makes an Ed25519 key readable by its owner only, and loads the same one after', async () => {
    const home = join(dir, 'fresh')
    const path = join(home, 'peer.key')
    const made = await loadOrCreatePeerKey(path)
    expect(made.type).toBe('Ed25519')
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect((await stat(home)).mode & 0o777).toBe(0o700)
    expect(await readFile(path)).toEqual(Buffer.from(privateKeyToProtobuf(made)))
    const again = await loadOrCreatePeerKey(path)
    expect(peerIdFromPrivateKey(again).toString()).toBe(peerIdFromPrivateKey(made).toString())
    expect(await readdir(home)).toEqual(['peer.key'])
  })

  it('removes the temporary file of a write that crashed before its rename, and writes the whole key', async () => {
    const home = join(dir, 'crashed')
    const path = join(home, 'peer.key')
    await loadOrCreatePeerKey(join(home, 'other.key')) // makes the directory
    const stale = `.peer.key.${DEAD_PID}.0a1b2c3d4e5f.tmp`
    await writeFile(join(home, stale), new Uint8Array([8, 1, 18]))
    const key = await loadOrCreatePeerKey(path)
    expect((await readdir(home)).sort()).toEqual(['other.key', 'peer.key'])
    expect(await readFile(path)).toEqual(Buffer.from(privateKeyToProtobuf(key)))
  })

  it('refuses a damaged key file, naming it, and leaves it for the operator (the peer id is not silently changed)', async () => {
    const path = join(dir, 'damaged.key')
    await writeFile(path, new Uint8Array([8, 1, 18, 64, 1, 2, 3]), { mode: 0o600 })
    await expect(loadOrCreatePeerKey(path)).rejects.toThrow(`peer key ${path}: `)
    expect(await readFile(path)).toEqual(Buffer.from([8, 1, 18, 64, 1, 2, 3]))
  })
})
