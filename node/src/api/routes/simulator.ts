/**
 * The simulator's switches (the seed's producer and consumer simulator pages): a node that hosts
 * simulated meters — the island demo — lets its UI switch the sun on a producer's panel and a
 * consumer's load on and off. The meters still mint and burn through the ledger as real ones do; the
 * switch only says whether energy flows. Without a simulator both routes answer 501.
 */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import { idOf, type ApiContext, type ApiSimulator, type SimulatedMeter } from '../context.ts'
import { ApiError } from '../errors.ts'
import { keyFrom } from '../lookup.ts'
import { AccountId, errors, readQuery } from '../schemas.ts'

const MeterSchema = z.object({
  id: z.string().openapi({ description: 'The meter\'s key as an account id (a consumer device\'s account)' }),
  role: z.enum(['generation', 'consumption']),
  label: z.string(),
  on: z.boolean().openapi({ description: 'generation: the sun is on the panel; consumption: the load draws power while the relay lets it' }),
  powerW: z.number().openapi({ description: 'Power while on, W' }),
  relay: z.boolean().nullable().openapi({ description: 'consumption: the relay (off when the device has no funds); generation: null' }),
  meteredWh: z.number().int().openapi({ description: 'Energy the meter counted since it started, Wh' })
}).openapi('SimulatedMeter')

const meterJson = (m: SimulatedMeter): z.infer<typeof MeterSchema> =>
  ({ id: idOf(m.account), role: m.role, label: m.label, on: m.on, powerW: m.powerW, relay: m.relay, meteredWh: m.meteredWh })

const listRoute = createRoute({
  method: 'get',
  path: '/simulator',
  summary: 'The simulated meters this node hosts',
  request: { query: readQuery({}) },
  responses: {
    200: { description: 'Every simulated meter', content: { 'application/json': { schema: z.object({ meters: z.array(MeterSchema) }) } } },
    ...errors({ 501: 'This node hosts no simulation' })
  }
})

const switchRoute = createRoute({
  method: 'post',
  path: '/simulator/switch',
  summary: 'Switch a simulated panel\'s sun or a simulated load on or off',
  request: {
    body: {
      content: { 'application/json': { schema: z.strictObject({ meter: AccountId, on: z.boolean() }).openapi('SimulatorSwitch') } },
      required: true
    }
  },
  responses: {
    200: { description: 'The meter after the switch', content: { 'application/json': { schema: MeterSchema } } },
    ...errors({ 404: 'No simulated meter has this id', 501: 'This node hosts no simulation' })
  }
})

export function simulatorRoutes (ctx: ApiContext, app: OpenAPIHono): void {
  const simulator = (): ApiSimulator => {
    if (ctx.simulator === undefined) throw new ApiError(501, 'no-simulator', 'this node hosts no simulated meters (the island demo does)')
    return ctx.simulator
  }
  app.openapi(listRoute, c => c.json({ meters: simulator().meters().map(meterJson) }, 200))
  app.openapi(switchRoute, c => {
    const body = c.req.valid('json')
    const sim = simulator()
    const meter = sim.set(keyFrom(body.meter, 'body.meter'), body.on)
    if (meter === undefined) throw new ApiError(404, 'unknown-meter', 'body.meter: no simulated meter has this id')
    return c.json(meterJson(meter), 200)
  })
}
