/**
 * `/simulator`: the switches of the simulator pages, over a node's API with a simulation behind it (a
 * small one here; the island demo's is tested in demo/test). Without one: 501. Bad input: 4xx, nothing
 * switched.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { accountId, generateKeyPair, keySigner } from '@microgrid/protocol'
import type { ApiSimulator, SimulatedMeter } from '../src/api/index.ts'
import { json, startFixture, type Fixture } from './api-fixture.ts'

let fx: Fixture | undefined
afterEach(async () => { await fx?.stop(); fx = undefined })

function simulation (): { sim: ApiSimulator, meters: SimulatedMeter[] } {
  const meters: SimulatedMeter[] = [
    { account: keySigner(generateKeyPair().secretKey).publicKey, role: 'generation', label: 'Rooftop solar 1', on: false, powerW: 5_000, relay: null, meteredWh: 0 },
    { account: keySigner(generateKeyPair().secretKey).publicKey, role: 'consumption', label: 'Household 1', on: true, powerW: 2_000, relay: true, meteredWh: 120 }
  ]
  return {
    meters,
    sim: {
      meters: () => meters,
      set: (account, on) => {
        const m = meters.find(x => accountId(x.account) === accountId(account))
        if (m !== undefined) m.on = on
        return m
      }
    }
  }
}

describe('the simulator switches', () => {
  it('lists the simulated meters and switches a panel\'s sun on', async () => {
    const { sim, meters } = simulation()
    fx = await startFixture({ components: { simulator: sim } })
    const list = await json<{ meters: Array<{ id: string, role: string, on: boolean, relay: boolean | null }> }>(await fx.get('/api/v1/simulator'))
    expect(list.meters.map(m => [m.role, m.on, m.relay])).toEqual([['generation', false, null], ['consumption', true, true]])
    const panel = accountId(meters[0]!.account)
    const res = await fx.post('/api/v1/simulator/switch', { meter: panel, on: true })
    expect(res.status).toBe(200)
    expect(await json(res)).toMatchObject({ id: panel, role: 'generation', on: true, label: 'Rooftop solar 1' })
    expect(meters[0]!.on).toBe(true)
  })

  it('refuses an unknown meter (404), a malformed body (400) and a missing token (401), switching nothing', async () => {
    const { sim, meters } = simulation()
    fx = await startFixture({ components: { simulator: sim } })
    const stranger = accountId(keySigner(generateKeyPair().secretKey).publicKey)
    const unknown = await fx.post('/api/v1/simulator/switch', { meter: stranger, on: false })
    expect(unknown.status).toBe(404)
    expect((await json(unknown)).error.code).toBe('unknown-meter')
    const bad = await fx.post('/api/v1/simulator/switch', { meter: accountId(meters[1]!.account), on: 'yes' })
    expect(bad.status).toBe(400)
    expect((await json(bad)).error.message).toMatch(/body\.on/)
    const noToken = await fx.app.request('/api/v1/simulator/switch', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ meter: accountId(meters[1]!.account), on: false }) })
    expect(noToken.status).toBe(401)
    expect(meters.map(m => m.on)).toEqual([false, true])
  })

  it('answers 501 no-simulator on a node without a simulation', async () => {
    fx = await startFixture()
    const res = await fx.get('/api/v1/simulator')
    expect(res.status).toBe(501)
    expect((await json(res)).error.code).toBe('no-simulator')
  })
})
