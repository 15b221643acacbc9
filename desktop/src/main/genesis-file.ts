/** Reading the genesis file the user picked in the main process's dialog (the renderer never names a path). */
import { open } from 'node:fs/promises'
import { basename } from 'node:path'
import { LIMITS, type ChosenFile } from '../preload/api.ts'

export class GenesisFileError extends Error {
  override readonly name = 'GenesisFileError'
}

/** The file's name and bytes (base64); a GenesisFileError for a file too large to be a genesis or a link. */
export async function readGenesisFile (path: string): Promise<ChosenFile> {
  const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new GenesisFileError(`cannot read ${basename(path)} (${err.code ?? err.message})`)
  })
  try {
    const stat = await handle.stat()
    if (!stat.isFile()) throw new GenesisFileError(`${basename(path)} is not a file`)
    if (stat.size > LIMITS.genesisBytes) {
      throw new GenesisFileError(`${basename(path)} is ${stat.size} bytes: a grid's genesis (or its link) is at most ${LIMITS.genesisBytes}`)
    }
    if (stat.size === 0) throw new GenesisFileError(`${basename(path)} is empty`)
    const bytes = await handle.readFile()
    return { name: basename(path), data: bytes.toString('base64') }
  } finally {
    await handle.close()
  }
}
