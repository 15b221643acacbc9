/**
 * A node's libp2p identity, kept in its data directory so its peer id survives restarts. It is the
 * transport's key (Noise handshakes, the peer id others dial and meter agents trust), never a ledger key:
 * it signs no op and moves no funds. It is kept unencrypted (0600) because a node holding no ledger keys
 * — `microgrid node`, the library's `MicrogridNode.start({ dataDir })` — runs with no passphrase at all.
 */
import { readFile } from 'node:fs/promises'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { writeFileAtomic } from './keystore.ts'

/**
 * Loads the Ed25519 key at `path`, or creates it when there is none: written atomically and durably
 * (a temporary file, fsync, rename, fsync of the directory; mode 0600), so a crash leaves no key or the
 * whole key, never a truncated file that would stop the node from starting.
 */
export async function loadOrCreatePeerKey (path: string): Promise<PrivateKey> {
  try {
    return privateKeyFromProtobuf(await readFile(path))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`peer key ${path}: ${(err as Error).message}`)
    }
  }
  const key = await generateKeyPair('Ed25519')
  try {
    await writeFileAtomic(path, privateKeyToProtobuf(key))
  } catch (err) {
    throw new Error(`peer key: ${(err as Error).message}`, { cause: err })
  }
  return key
}
