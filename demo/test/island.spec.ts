/**
 * The island demo (`npm start`): on a fresh directory it comes up, serves its API, and the seed's story
 * runs by itself — producers mint, the utility buys wholesale, residents buy retail and fund devices,
 * meters burn; a second start on the same directory resumes the same island.
 */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { IslandDemo } from '../src/island.ts'

async function until (ok: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 250))
  }
}

describe('island demo', () => {
  it('serves its API on a fresh directory, trades and burns by itself, and resumes the same island', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'microgrid-island-'))
    const demo = await IslandDemo.start({ dir, port: 0, paceMs: 300 })
    let grid: string
    let decided: number
    try {
      const status = await fetch(`${demo.url}/api/v1/status`, { headers: { authorization: `Bearer ${demo.token}` } })
      expect(status.status).toBe(200)
      const body = await status.json() as { grid: { id: string } }
      grid = body.grid.id
      expect((await fetch(`${demo.url}/api/v1/status`)).status).toBe(401)
      const state = (): ReturnType<IslandDemo['nodes']['get']> => demo.nodes.get('utility')
      await until(() => (state()?.ledger.state.burned ?? 0) > 0, 120_000, 'a meter to burn funded energy')
      const s = state()?.ledger.state
      expect(s?.minted).toBeGreaterThan(0)
      expect(s?.settledCount).toBeGreaterThan(0)
      decided = s?.decidedCount ?? 0
    } finally {
      await demo.stop()
    }
    const again = await IslandDemo.start({ dir, port: 0, paceMs: 300 })
    try {
      const status = await (await fetch(`${again.url}/api/v1/status`, { headers: { authorization: `Bearer ${again.token}` } })).json() as { grid: { id: string } }
      expect(status.grid.id).toBe(grid)
      expect(again.nodes.get('utility')?.ledger.state.decidedCount).toBeGreaterThanOrEqual(decided)
      // Nothing registered twice on the second start.
      const registrar = again.keys.get('registrar')?.publicKey as Uint8Array
      const chain = again.nodes.get('utility')?.ledger.state.chain(registrar)
      const rejected = Array.from(chain?.status.subarray(0, chain.length) ?? []).filter(s => s === 2).length
      expect(rejected).toBe(0)
    } finally {
      await again.stop()
    }
  }, 240_000)
})
