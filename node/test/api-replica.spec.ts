/**
 * `POST /replica`: a client's Yjs replica synced over the stream equals what the read endpoints return,
 * accounts, devices and receipts slimmed (their expansion back is tested in desktop/test/replica-entries.spec.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { closeApi, createApi, replicaOf, RECENT_OPS } from '../src/api/index.ts'
import { slimAccount, slimDevice, slimReceipt } from '../src/api/replica.ts'
import { auth, json, startFixture, TOKEN, type Fixture } from './api-fixture.ts'
import { parser, type SseEvent } from './sse.ts'

let f: Fixture
beforeAll(async () => {
  f = await startFixture({ seed: 'api-replica', api: { keepAliveMs: 100, replica: { flushMs: 20 } } })
})
afterAll(async () => {
  closeApi(f?.app)
  await f?.stop()
})


/** A replica stream: its events as they come, and the keep-alive comments. */
interface Stream {
  next: (timeoutMs?: number) => Promise<SseEvent | null>
  comments: string[]
  cancel: () => Promise<void>
}

function reading (res: Response): Stream {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
  const frames = parser()
  const queue: SseEvent[] = []
  let ended = false
  return {
    comments: frames.comments,
    next: async (timeoutMs = 5_000) => {
      const deadline = Date.now() + timeoutMs
      while (queue.length === 0 && !ended) {
        const left = deadline - Date.now()
        if (left <= 0) throw new Error('no event in time')
        const r = await Promise.race([reader.read(), new Promise<'late'>(resolve => setTimeout(() => resolve('late'), left))])
        if (r === 'late') throw new Error('no event in time')
        if (r.done) { ended = true; break }
        queue.push(...frames.push(r.value))
      }
      return queue.shift() ?? null
    },
    cancel: async () => { await reader.cancel().catch(() => {}) }
  }
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64')
const unb64 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'base64'))

async function open (body: unknown, app = f.app): Promise<Response> {
  return await app.request('/api/v1/replica', { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
}

/** Opens a stream for `doc`: checks hello, applies the first update; returns the stream, the epoch and that update. */
async function sync (doc: Y.Doc, epoch: string, app = f.app): Promise<{ stream: Stream, epoch: string, first: Uint8Array }> {
  const res = await open({ stateVector: b64(Y.encodeStateVector(doc)), epoch }, app)
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toMatch(/text\/event-stream/)
  const stream = reading(res)
  const hello = await stream.next()
  expect(hello?.event).toBe('hello')
  const { epoch: current } = JSON.parse(hello!.data) as { epoch: string }
  const update = await stream.next()
  expect(update?.event).toBe('update')
  const first = unb64(update!.data)
  Y.applyUpdate(doc, first)
  return { stream, epoch: current, first }
}

const byKey = <T, U = T>(items: T[], key: (x: T) => string, value: (x: T) => U = x => x as unknown as U): Record<string, U> =>
  Object.fromEntries(items.map(x => [key(x), value(x)]))

/** The replica's maps equal fresh reads of the endpoints (accounts, devices and receipts slimmed as the doc holds them). */
async function expectEqualToReads (doc: Y.Doc): Promise<void> {
  const { accounts } = await json(await f.get('/api/v1/accounts'))
  expect(doc.getMap('accounts').toJSON()).toEqual(byKey(accounts, (a: { id: string }) => a.id, slimAccount))
  const { devices } = await json(await f.get('/api/v1/devices'))
  expect(doc.getMap('devices').toJSON()).toEqual(byKey(devices, (d: { id: string }) => d.id, slimDevice))
  const { sellers } = await json(await f.get('/api/v1/prices'))
  expect(doc.getMap('prices').toJSON()).toEqual(byKey(sellers, (s: { account: string }) => s.account))
  const { receipts } = await json(await f.get('/api/v1/receipts'))
  const ours = Object.values(doc.getMap('receipts').toJSON()) as Array<{ paymentId: string, seq: number }>
  const order = (a: { paymentId: string, seq: number }, b: { paymentId: string, seq: number }): number => a.paymentId < b.paymentId ? -1 : a.paymentId > b.paymentId ? 1 : a.seq - b.seq
  expect(ours.sort(order)).toEqual(receipts.map(slimReceipt).sort(order))
  const forks = await json(await f.get('/api/v1/forks'))
  expect(doc.getMap('forks').toJSON()).toEqual({
    ...byKey(forks.forks, (x: { author: string, seq: number }) => `${x.author}:${x.seq}`),
    ...byKey(forks.frozen, (x: { account: string }) => `frozen:${x.account}`)
  })
  const status = await json(await f.get('/api/v1/status'))
  const { updatedAt, ...fields } = doc.getMap('status').toJSON()
  expect(fields).toEqual(status)
  expect(updatedAt).toEqual(expect.any(Number))
}

describe('POST /replica', () => {
  it('syncs a fresh client doc to what the read endpoints return, then streams new ops as they happen', async () => {
    const doc = new Y.Doc()
    const { stream, epoch } = await sync(doc, '')
    expect(epoch).toBe(replicaOf(f.app).epoch)
    await expectEqualToReads(doc)
    // The receipt nobody settled is there, keyed by its op id.
    const receipts = doc.getMap('receipts').toJSON() as Record<string, { paymentId: string, settled: boolean }>
    expect(Object.entries(receipts).find(([, r]) => r.paymentId === 'pi_unsettled')?.[1].settled).toBe(false)
    for (const key of Object.keys(receipts)) expect(key).toMatch(/^[0-9a-f]{64}$/)
    // recent: the ops the node decided, oldest first, as /events's op events (the fixture's last op is the receipt).
    const recent = doc.getArray('recent').toJSON() as Array<{ kind: string, status: string, id: string, author: string, seq: number, ts: number }>
    expect(recent.length).toBe(Math.min(RECENT_OPS, f.node.ledger.state.decidedCount))
    expect(recent.at(-1)).toMatchObject({ kind: 'receipt', status: 'applied', author: f.id(f.isl.oracle) })
    expect(recent.map(r => r.ts)).toEqual([...recent.map(r => r.ts)].sort((a, b) => a - b))

    // New ops: a funding with a window and a price change arrive as updates and the doc converges.
    const device = f.isl.devices[1]!.meter
    const now = f.isl.clock.now()
    const fund = await f.post('/api/v1/actions/fund', { device: f.id(device), wh: 300, window: { from: now - 1_000, until: now + 3_600_000 } })
    expect(fund.status).toBe(200)
    const { id: fundId } = await json(fund)
    const price = await f.post('/api/v1/actions/price', { as: 'utility', retail: 13_000 })
    expect(price.status).toBe(200)
    const deadline = Date.now() + 10_000
    const lastId = (): string | undefined => (doc.getArray('recent').toJSON().at(-1) as { id: string } | undefined)?.id
    const { id: priceId } = await json(price)
    while (lastId() !== priceId) {
      if (Date.now() > deadline) throw new Error('the updates never brought the new ops')
      const e = await stream.next()
      expect(e?.event).toBe('update')
      Y.applyUpdate(doc, unb64(e!.data))
    }
    await replicaOf(f.app).flush()
    for (let e = await stream.next(200).catch(() => null); e !== null; e = await stream.next(200).catch(() => null)) Y.applyUpdate(doc, unb64(e.data))
    const recentIds = (doc.getArray('recent').toJSON() as Array<{ id: string }>).map(r => r.id)
    expect(recentIds).toContain(fundId)
    const windows = (doc.getMap('devices').get(f.id(device)) as { funds: { windows: unknown[] } }).funds.windows
    expect(windows).toHaveLength(1)
    expect((doc.getMap('prices').get(f.id(f.isl.utility)) as { retail: { minorPerMWh: number } }).retail.minorPerMWh).toBe(13_000)
    await expectEqualToReads(doc)
    await stream.cancel()
  })

  it('writes accounts, devices and receipts without what a client derives, or null, false and empty fields', async () => {
    await replicaOf(f.app).flush()
    const doc = replicaOf(f.app).doc
    const { receipts } = await json(await f.get('/api/v1/receipts'))
    const settled = receipts.find((r: any) => r.settled)
    const unsettled = receipts.find((r: any) => r.paymentId === 'pi_unsettled')
    const stored = (r: { oracle: string, seq: number }): unknown =>
      [...doc.getMap('receipts').values()].find((x: any) => x.oracle === r.oracle && x.seq === r.seq)
    const kept = (r: any): object => ({ oracle: r.oracle, seq: r.seq, payer: r.payer, payee: r.payee, contract: r.contract, amountMinor: r.amountMinor, paymentId: r.paymentId, minorPerMWh: r.price.minorPerMWh, ts: r.ts, settled: r.settled })
    // Settled: no amountDollars, currency, price object, wh, ageMs, settleable, reason, message or mine (null: no settlement service).
    expect(settled).toMatchObject({ settleable: false, reason: null, message: null, mine: null })
    expect(stored(settled)).toStrictEqual(kept(settled))
    // Unsettled and settleable: `settleable` is kept, the null reason and message are not.
    expect(unsettled).toMatchObject({ settled: false, settleable: true, reason: null, message: null, mine: null })
    expect(stored(unsettled)).toStrictEqual({ ...kept(unsettled), settleable: true })

    const { devices } = await json(await f.get('/api/v1/devices'))
    const device = devices.find((d: any) => d.meter === null && d.funds.windows.length === 0 && d.funds.funders.length > 0)
    expect(device.qr).toMatch(/^microgrid:mg1/)
    const { id, qr: _qr, position, frozen, meter: _meter, funds: { nextChange, windows: _windows, ...figures }, ...rest } = device
    expect(doc.getMap('devices').get(id)).toStrictEqual({ ...rest, ...(position !== null && { position }), ...(frozen === true && { frozen }), funds: { ...figures, ...(nextChange !== null && { nextChange }) } })

    const { accounts } = await json(await f.get('/api/v1/accounts'))
    const account = accounts.find((a: any) => a.label === null)
    const { id: accountId, role, label: _label, frozen: accountFrozen, ...fields } = account
    expect(accountFrozen).toBe(false)
    expect(fields.roles[0]).toBe(role)
    expect(doc.getMap('accounts').get(accountId)).toStrictEqual(fields)
  })

  it('writes only what an op touched: one funding changes the funder\'s and the device\'s entries, no others', async () => {
    const replica = replicaOf(f.app)
    await replica.flush()
    const changed: Record<string, string[]> = {}
    const observe = (name: string) => (e: Y.YMapEvent<unknown>): void => { (changed[name] ??= []).push(...e.keysChanged) }
    const observers = ['accounts', 'devices', 'prices', 'receipts', 'forks'].map(name => {
      const fn = observe(name)
      replica.doc.getMap(name).observe(fn)
      return () => replica.doc.getMap(name).unobserve(fn)
    })
    try {
      const device = f.isl.devices[0]!.meter
      expect((await f.post('/api/v1/actions/fund', { device: f.id(device), wh: 10 })).status).toBe(200)
      await replica.flush()
      expect(changed).toEqual({ accounts: expect.arrayContaining([f.id(f.isl.residents[0]!), f.id(device)]), devices: [f.id(device)] })
      expect(changed.accounts).toHaveLength(2)
    } finally {
      for (const off of observers) off()
    }
  })

  it('sends a client with its state vector only the difference, and a client of another epoch everything', async () => {
    const doc = new Y.Doc()
    const { stream, epoch, first: full } = await sync(doc, '')
    await stream.cancel()
    expect((await f.post('/api/v1/actions/fund', { device: f.id(f.isl.devices[0]!.meter), wh: 20 })).status).toBe(200)
    await replicaOf(f.app).flush()

    const again = await sync(doc, epoch)
    await again.stream.cancel()
    expect(again.first.byteLength).toBeLessThan(full.byteLength / 4)
    await expectEqualToReads(doc)

    // A stored epoch from another run of the node: the whole state, as for an empty doc.
    const stale = await sync(new Y.Doc(), 'an-older-epoch')
    await stale.stream.cancel()
    const fresh = new Y.Doc()
    const everything = await sync(fresh, '')
    await everything.stream.cancel()
    expect(stale.first.byteLength).toBe(everything.first.byteLength)
    const staleClient = new Y.Doc()
    await sync(staleClient, 'an-older-epoch').then(async s => { await s.stream.cancel() })
    expect(staleClient.getMap('accounts').toJSON()).toEqual(fresh.getMap('accounts').toJSON())
    // The same state vector under a stale epoch still gets everything, not the difference.
    const staleWithVector = await sync(doc, 'an-older-epoch')
    await staleWithVector.stream.cancel()
    expect(staleWithVector.first.byteLength).toBe(everything.first.byteLength)
  })

  it('sends keep-alive comments while idle', async () => {
    const { stream } = await sync(new Y.Doc(), '')
    await expect(stream.next(350)).rejects.toThrow(/no event in time/)
    expect(stream.comments).toContain(': keep-alive')
    await stream.cancel()
  })

  it('refuses bad bodies with 400 naming the field, and requests without the token with 401', async () => {
    const post = async (body: string, headers: Record<string, string> = auth): Promise<Response> =>
      await f.app.request('/api/v1/replica', { method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' }, body })
    const cases: Array<[string, RegExp]> = [
      [JSON.stringify({ stateVector: 'not base64!', epoch: '' }), /body\.stateVector: expected base64/],
      [JSON.stringify({ stateVector: b64(new Uint8Array([5])), epoch: '' }), /body\.stateVector: not a Yjs state vector/],
      [JSON.stringify({ stateVector: b64(new Uint8Array([1, 0x80])), epoch: '' }), /body\.stateVector: not a Yjs state vector/],
      [JSON.stringify({ stateVector: '' }), /body\.epoch/],
      [JSON.stringify({ epoch: '' }), /body\.stateVector/],
      ['{"stateVector":', /./]
    ]
    for (const [body, message] of cases) {
      const res = await post(body)
      expect(res.status, body).toBe(400)
      const err = await json(res)
      expect(err.error.code).toBe('bad-request')
      expect(err.error.message).toMatch(message)
    }
    const none = await post(JSON.stringify({ stateVector: '', epoch: '' }), {})
    expect(none.status).toBe(401)
    const wrong = await post(JSON.stringify({ stateVector: '', epoch: '' }), { Authorization: `Bearer ${TOKEN}x` })
    expect(wrong.status).toBe(401)
  })

  it('is in the OpenAPI document', async () => {
    const doc = await json(await f.get('/api/v1/openapi.json'))
    const op = doc.paths['/api/v1/replica'].post
    expect(Object.keys(op.requestBody.content['application/json'].schema.properties ?? doc.components.schemas.ReplicaRequest.properties)).toEqual(['stateVector', 'epoch'])
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['200', '400', '401']))
  })

  it('drops a client that falls far behind, and ends every stream when the API closes', async () => {
    const app = createApi({ node: f.node, token: TOKEN, signers: f.signers, clock: f.isl.clock }, { replica: { flushMs: 0, maxQueue: 2 } })
    const replica = replicaOf(app)
    try {
      const slow = await sync(new Y.Doc(), '', app)
      const live = await sync(new Y.Doc(), '', app)
      // The slow client reads nothing while the doc changes many times over.
      for (let i = 0; i < 40; i++) {
        expect((await f.post('/api/v1/actions/fund', { device: f.id(f.isl.devices[0]!.meter), wh: 1 })).status).toBe(200)
        await replica.flush()
        // The live one keeps up.
        for (let e = await live.stream.next(50).catch(() => null); e !== null; e = await live.stream.next(20).catch(() => null)) Y.applyUpdate(new Y.Doc(), unb64(e.data))
      }
      let events = 0
      for (let e = await slow.stream.next(); e !== null; e = await slow.stream.next()) events++
      expect(events).toBeLessThan(40)
      closeApi(app)
      // The live stream ends (after whatever it had not read yet).
      for (let e = await live.stream.next(); e !== null; e = await live.stream.next()) expect(e.event).toBe('update')
      expect(await live.stream.next()).toBeNull()
    } finally {
      replica.dispose()
    }
  })
})
