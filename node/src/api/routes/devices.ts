/** `GET /devices`, `/devices/{id}`: registered consumer devices with their funds and meter reports. */
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import { DEVICE_CATEGORIES, deviceUri, toHex, type ConsumerRegistration, type PublicKey } from '@microgrid/protocol'
import { fundsOf, type DeviceFundsView, type LedgerState } from '@microgrid/core'
import { idOf, type ApiContext } from '../context.ts'
import { ApiError } from '../errors.ts'
import { keyFrom } from '../lookup.ts'
import { AccountId, EXAMPLE_DEVICE, errors, queryEnum, readQuery } from '../schemas.ts'

const WindowSchema = z.object({
  funder: z.string(),
  from: z.number().openapi({ description: 'ms since the epoch' }),
  until: z.number().openapi({ description: 'ms since the epoch (exclusive)' }),
  remainingWh: z.number().int(),
  state: z.enum(['upcoming', 'open', 'ended']).openapi({ description: 'At `funds.at`; what is left of an ended window returns to its funder when the meter next signs' }),
  declared: z.boolean().openapi({ description: 'Whether the meter\'s chain has cited it yet (its next op will)' })
}).openapi('FundingWindow')

const FunderSchema = z.object({
  funder: z.string(),
  putWh: z.number().int(),
  burnedWh: z.number().int(),
  returnedWh: z.number().int(),
  heldWh: z.number().int().openapi({ description: 'Still in the device: general funds and windows' })
}).openapi('Funder')

export const FundsSchema = z.object({
  at: z.number().openapi({ description: 'The time the figures are for, ms since the epoch' }),
  usableNowWh: z.number().int().openapi({ description: 'What the meter may burn now: general funds and open windows' }),
  generalWh: z.number().int().openapi({ description: 'Unwindowed funds: burn-only, for good' }),
  balanceWh: z.number().int(),
  burnedWh: z.number().int(),
  nextChange: z.number().nullable().openapi({ description: 'When a window next opens or ends, or null' }),
  windows: z.array(WindowSchema),
  funders: z.array(FunderSchema)
}).openapi('DeviceFunds')

const MeterReportSchema = z.object({
  at: z.number(),
  relay: z.boolean().openapi({ description: 'Whether the meter agent has the circuit on' }),
  reason: z.string(),
  usableWh: z.number(),
  daysRemaining: z.number().nullable(),
  watts: z.number(),
  warnings: z.array(z.number()).openapi({ description: 'Low-balance thresholds (Wh) the usable balance is at or below' }),
  faults: z.array(z.string()),
  queuedWh: z.number().openapi({ description: 'Wh metered and not yet in the ledger' }),
  peer: z.string().openapi({ description: 'The meter agent\'s peer id' })
}).openapi('MeterReport')

export const DeviceSchema = z.object({
  id: z.string().openapi({ example: EXAMPLE_DEVICE }),
  label: z.string().openapi({ example: 'Street light 4' }),
  category: z.string().openapi({ example: 'street-light' }),
  position: z.object({ lat: z.number(), lon: z.number() }).nullable().openapi({ description: 'Map position in degrees, or null' }),
  qr: z.string().openapi({ description: 'The QR payload printed on the device\'s label', example: 'microgrid:mg1…?grid=mgrid1…' }),
  frozen: z.boolean(),
  funds: FundsSchema,
  meter: MeterReportSchema.nullable().openapi({ description: 'The meter agent\'s last report to this node (relay, days remaining, warnings), or null' })
}).openapi('Device')

export function fundsJson (f: DeviceFundsView): z.infer<typeof FundsSchema> {
  return {
    at: f.at,
    usableNowWh: f.usableNow,
    generalWh: f.general,
    balanceWh: f.balance,
    burnedWh: f.burned,
    nextChange: f.nextChange,
    windows: f.windows.map(w => ({ funder: idOf(w.funder), from: w.from, until: w.until, remainingWh: w.remaining, state: w.state, declared: w.declared })),
    funders: f.funders.map(x => ({ funder: idOf(x.funder), putWh: x.put, burnedWh: x.burned, returnedWh: x.returned, heldWh: x.held }))
  }
}

/** The QR payload of a device, by key object (it never changes). */
const qrs = new WeakMap<PublicKey, { grid: Uint8Array, qr: string }>()
function qrOf (key: PublicKey, grid: Uint8Array): string {
  let cached = qrs.get(key)
  if (cached?.grid !== grid) qrs.set(key, cached = { grid, qr: deviceUri({ account: key, grid }) })
  return cached.qr
}

export type DeviceJson = z.infer<typeof DeviceSchema>

export function deviceJson (ctx: ApiContext, state: LedgerState, key: PublicKey, body: ConsumerRegistration, now: number): DeviceJson {
  const f = fundsOf(state, key, now)
  const report = ctx.node.meterReports.get(toHex(key))
  const chain = state.findChain(key)
  return {
    id: idOf(key),
    label: body.label,
    category: body.category,
    position: body.position === null ? null : { lat: body.position[0] / 1e6, lon: body.position[1] / 1e6 },
    qr: qrOf(key, state.gridId),
    frozen: chain !== undefined && Number.isFinite(chain.frozenFrom),
    funds: fundsJson(f),
    meter: report === undefined ? null : { ...report.report, warnings: [...report.report.warnings], faults: [...report.report.faults], peer: report.peer }
  }
}

const listRoute = createRoute({
  method: 'get',
  path: '/devices',
  summary: 'Registered consumer devices: label, map position, QR payload, funds, meter report',
  request: { query: readQuery({ category: queryEnum(DEVICE_CATEGORIES).optional().openapi({ description: 'Only devices of this category' }) }) },
  responses: {
    200: { description: 'The devices, by label', content: { 'application/json': { schema: z.object({ devices: z.array(DeviceSchema) }) } } },
    ...errors()
  }
})

const getRoute = createRoute({
  method: 'get',
  path: '/devices/{id}',
  summary: 'One device',
  request: { params: z.object({ id: AccountId.openapi({ param: { name: 'id', in: 'path' } }) }), query: readQuery({}) },
  responses: {
    200: { description: 'The device', content: { 'application/json': { schema: DeviceSchema } } },
    ...errors({ 404: 'No device registered with this id' })
  }
})

export function deviceRoutes (ctx: ApiContext, app: OpenAPIHono): void {
  app.openapi(listRoute, c => {
    const { category } = c.req.valid('query')
    const state = ctx.node.ledger.state
    const now = ctx.clock.now()
    const devices = []
    for (const r of state.registrations()) {
      if (r.role !== 'consumer' || r.body.role !== 'consumer') continue
      if (category !== undefined && r.body.category !== category) continue
      devices.push(deviceJson(ctx, state, r.key, r.body, now))
    }
    devices.sort((a, b) => a.label.localeCompare(b.label) || (a.id < b.id ? -1 : 1))
    return c.json({ devices }, 200)
  })

  app.openapi(getRoute, c => {
    const { id } = c.req.valid('param')
    const state = ctx.node.ledger.state
    const key = keyFrom(id, 'path.id')
    const reg = state.registrationOf(key)
    if (reg === undefined || reg.body.role !== 'consumer') throw new ApiError(404, 'unknown-device', `path.id: no consumer device is registered as ${id}`)
    return c.json(deviceJson(ctx, state, key, reg.body, ctx.clock.now()), 200)
  })
}
