/**
 * The client commands: they talk to the running node through its HTTP API (docs/API.md) with the token
 * of the data directory's config, and print what it answers (`--json`: the API's own JSON).
 */
import { writeFile } from 'node:fs/promises'
import { renderSVG, renderUnicodeCompact } from 'uqr'
import { DEVICE_CATEGORIES, accountId, parseAccountId, parseDeviceUri } from '@microgrid/protocol'
import { writeFileAtomic } from '../keystore.ts'
import { connect, ApiRequestError, type Api } from './client.ts'
import {
  CliError, NotRunningError, UsageError, decimal, decimalForm, flag, kwh, kwhToWh, money, optional, priceText, required, short, table, timeArg, when,
  type Context
} from './common.ts'
import { keyOfRole, notInitialised, readConfigIfAny, readRun, type NodeConfig } from './datadir.ts'

// ---------------------------------------------------------------------------------------------------
// The API's JSON, as far as the commands read it (docs/API.md has it all)

interface Currency { code: string, digits: number }
interface Price { minorPerMWh: number, dollarsPerKWh: number }
interface StatusJson {
  peerId: string
  addresses: string[]
  grid: { id: string, name: string, currency: Currency }
  peers: Array<{ id: string, addresses: string[] }>
  ops: { decided: number, pending: number }
  stateHash: string
  sync: { missing: number, lastPull: { peer: string, received: number, at: number } | null }
  forks: number
  frozen: number
  supply: { mintedWh: number, burnedWh: number }
  signers: Array<{ name: string, account: string, roles: string[] }>
  time: number
}
interface AccountJson {
  id: string
  role: string
  roles: string[]
  label: string | null
  balanceWh: number
  spendableWh: number
  ops: number
  frozen: boolean
  frozenFrom?: number | null
  registration?: Record<string, unknown> | null
  prices?: { wholesale: Price | null, retail: Price | null } | null
  meter?: { readingWh: number | null, mintedWh: number, burnedWh: number } | null
}
interface HistoryEntry { cursor: string, id: string, kind: string, author: string, seq: number, ts: number, status: string, deltaWh: number, body: Record<string, unknown> }
interface HistoryJson { account: string, entries: HistoryEntry[], next: string | null }
interface FundsJson {
  at: number
  usableNowWh: number
  generalWh: number
  balanceWh: number
  burnedWh: number
  nextChange: number | null
  windows: Array<{ funder: string, from: number, until: number, remainingWh: number, state: string, declared: boolean }>
}
interface DeviceJson {
  id: string
  label: string
  category: string
  position: { lat: number, lon: number } | null
  qr: string
  frozen: boolean
  funds: FundsJson
  meter: { relay: boolean, reason: string, daysRemaining: number | null, watts: number | null, at: number } | null
}
interface OpResultJson { status: string, id: string, kind: string, author: string, seq: number, ts: number, code?: string, reason?: string, funds?: FundsJson }
interface PaymentJson { result: { paymentId: string, oracle: string, seq: number, id: string, duplicate: boolean, result?: OpResultJson } }

// ---------------------------------------------------------------------------------------------------
// Arguments

/**
 * An account argument: an account id (mg1…), a device's QR link (microgrid:mg1…?grid=…), or the name of
 * one of this node's keys (`resident`, `utility`, …). Without one: the node's resident key (else its
 * first key).
 */
function accountArg (ctx: Context, config: NodeConfig | undefined, value: string | undefined, what: string): string {
  const v = value?.trim()
  try {
    if (v !== undefined && /^(?:web\+)?microgrid:/i.test(v)) return accountId(parseDeviceUri(v).account)
    if (v !== undefined && /^mg1/i.test(v)) return accountId(parseAccountId(v.toLowerCase()))
  } catch (err) {
    throw new UsageError(`${what}: ${(err as Error).message}`, ctx.command)
  }
  if (v !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(v)) {
    throw new UsageError(`${what}: ${JSON.stringify(v)} is not an account id (mg1…), a device link or a key name`, ctx.command)
  }
  // A key name, or the default key: they need the node's config.
  if (config === undefined) throw notInitialised(ctx.dataDir)
  if (v === undefined) {
    const own = keyOfRole(config, 'resident') ?? config.keys[0]
    if (own === undefined) throw new UsageError(`${what}: this node holds no key: name an account id`, ctx.command)
    return own.account
  }
  const local = config.keys.find(k => k.name === v)
  if (local !== undefined) return local.account
  throw new UsageError(`${what}: ${JSON.stringify(v)} is not an account id (mg1…), a device link or a key of this node (${config.keys.map(k => k.name).join(', ') || 'none'})`, ctx.command)
}

/** `--as <key name>`: one of this node's keys. */
function asArg (ctx: Context, config: NodeConfig | undefined): { as?: string } {
  const as = optional(ctx, 'as')
  if (as === undefined) return {}
  if (config !== undefined && !config.keys.some(k => k.name === as)) {
    throw new UsageError(`--as: this node has no key named ${JSON.stringify(as)} (it has: ${config.keys.map(k => k.name).join(', ') || 'none'})`, ctx.command)
  }
  return { as }
}

function contractArg (ctx: Context, text: string | undefined): 'retail-seller' | 'wholesale-seller' {
  const t = (text ?? 'retail').trim()
  if (t === 'retail' || t === 'retail-seller') return 'retail-seller'
  if (t === 'wholesale' || t === 'wholesale-seller') return 'wholesale-seller'
  throw new UsageError(`--contract: expected retail or wholesale (retail-seller, wholesale-seller), got ${JSON.stringify(t)}`, ctx.command)
}

function limitArg (ctx: Context): number | undefined {
  const v = optional(ctx, 'limit')
  if (v === undefined) return undefined
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 500) throw new UsageError(`--limit: expected 1 to 500, got ${JSON.stringify(v)}`, ctx.command)
  return Number(v)
}

async function currencyOf (api: Api): Promise<Currency> {
  return (await api.get<StatusJson>('/status')).grid.currency
}

/** An account the ledger does not know yet (404 unknown-account) is an empty one. */
async function accountOrEmpty (api: Api, id: string): Promise<AccountJson & { known: boolean }> {
  try {
    return { ...await api.get<AccountJson>(`/accounts/${id}`), known: true }
  } catch (err) {
    if (err instanceof ApiRequestError && err.code === 'unknown-account') {
      return { id, role: 'resident', roles: ['resident'], label: null, balanceWh: 0, spendableWh: 0, ops: 0, frozen: false, frozenFrom: null, registration: null, prices: null, meter: null, known: false }
    }
    throw err
  }
}

// ---------------------------------------------------------------------------------------------------
// Reading

export async function status (ctx: Context): Promise<undefined> {
  const api = await connect(ctx).catch((err: unknown) => {
    if (err instanceof NotRunningError) throw new NotRunningError(`${err.message}; \`microgrid status --offline\` reads its ledger without it`, err)
    throw err
  })
  const s = await api.get<StatusJson>('/status')
  const supply = s.supply.mintedWh - s.supply.burnedWh
  const last = s.sync.lastPull
  ctx.result({ running: true, api: api.url, ...s }, () => [
    `grid        ${s.grid.id} (${s.grid.name}, ${s.grid.currency.code})`,
    `peer id     ${s.peerId}`,
    `api         ${api.url}`,
    `peers       ${s.peers.length} connected`,
    `ops         ${s.ops.decided} decided, ${s.ops.pending} pending`,
    `sync        ${s.sync.missing} missing; last pull ${last === null ? 'none' : `${last.received} ops from ${last.peer} at ${when(last.at)}`}`,
    `supply      ${supply} Wh (minted ${s.supply.mintedWh}, burned ${s.supply.burnedWh})`,
    `forks       ${s.forks}, frozen accounts ${s.frozen}`,
    `state hash  ${s.stateHash}`,
    ...s.signers.map(k => `key         ${k.name.padEnd(10)} ${k.account} (${k.roles.join(', ')})`)
  ])
  return undefined
}

export async function peers (ctx: Context): Promise<undefined> {
  const api = await connect(ctx)
  const s = await api.get<StatusJson>('/status')
  ctx.result({ peerId: s.peerId, addresses: s.addresses, peers: s.peers }, () => [
    `this node  ${s.peerId}`,
    ...(s.peers.length === 0 ? ['no peers connected'] : table(s.peers.map(p => [p.id, p.addresses.join(' ')])))
  ])
  return undefined
}

export async function accounts (ctx: Context): Promise<undefined> {
  const role = optional(ctx, 'role')
  const roles = ['registrar', 'oracle', 'utility', 'producer', 'generation-meter', 'consumer', 'resident']
  if (role !== undefined && !roles.includes(role)) throw new UsageError(`--role: expected one of ${roles.join(', ')}`, ctx.command)
  const api = await connect(ctx)
  const res = await api.get<{ accounts: AccountJson[] }>('/accounts', { role })
  ctx.result(res, () => res.accounts.length === 0
    ? ['no accounts']
    : table([['account', 'role', 'balance', 'label'], ...res.accounts.map(a => [a.id, a.role, kwh(a.balanceWh), a.label ?? ''])]))
  return undefined
}

export async function account (ctx: Context): Promise<undefined> {
  const config = await readConfigIfAny(ctx.dataDir)
  const id = accountArg(ctx, config, ctx.positionals[0], 'account')
  const api = await connect(ctx)
  const a = await accountOrEmpty(api, id)
  const currency = a.prices !== null && a.prices !== undefined ? await currencyOf(api) : undefined
  ctx.result(a, () => [
    `account     ${a.id}`,
    `role        ${a.roles.join(', ')}${a.label !== null ? ` — ${a.label}` : ''}`,
    `balance     ${kwh(a.balanceWh)} (spendable now ${kwh(a.spendableWh)})`,
    `ops         ${a.ops}${a.known ? '' : ' (the ledger has not seen this account yet)'}`,
    ...(a.frozen ? [`frozen      from seq ${a.frozenFrom ?? '?'} (a fork: see the node's forks)`] : []),
    ...(a.prices !== null && a.prices !== undefined && currency !== undefined
      ? [`wholesale   ${priceText(a.prices.wholesale, currency.code)}`, `retail      ${priceText(a.prices.retail, currency.code)}`]
      : []),
    ...(a.meter !== null && a.meter !== undefined ? [`meter       reading ${a.meter.readingWh ?? '—'} Wh, minted ${a.meter.mintedWh} Wh, burned ${a.meter.burnedWh} Wh`] : [])
  ])
  return undefined
}

export async function balance (ctx: Context): Promise<undefined> {
  const config = await readConfigIfAny(ctx.dataDir)
  const id = accountArg(ctx, config, ctx.positionals[0], 'account')
  const api = await connect(ctx)
  const a = await accountOrEmpty(api, id)
  ctx.result({ account: a.id, balanceWh: a.balanceWh, spendableWh: a.spendableWh, known: a.known }, () => [
    `${kwh(a.balanceWh)}  ${a.id}${a.label !== null ? ` (${a.label})` : ''}`
  ])
  return undefined
}

/** A history entry in words: what it did and with whom. */
function detail (e: HistoryEntry, me: string): string {
  const b = e.body
  const id = (v: unknown): string => short(String(v))
  switch (e.kind) {
    case 'transfer': {
      const window = b.window as { from: number, until: number } | null
      const w = window !== null && window !== undefined ? ` window ${when(window.from)} – ${when(window.until)}` : ''
      return `${String(b.contract)} ${e.author === me ? `to ${id(b.to)}` : `from ${id(e.author)}`}${w}`
    }
    case 'receipt': return `payment ${String(b.paymentId)}: ${id(b.payer)} paid ${id(b.payee)} ${String(b.amount)} minor units (${String(b.contract)})`
    case 'register': return `registered as ${String(b.role)}${b.label !== undefined ? ` "${String(b.label)}"` : ''}`
    case 'mint': case 'burn': return `${e.kind} by ${id(e.author)}`
    default: return e.author === me ? '' : `by ${id(e.author)}`
  }
}

export async function history (ctx: Context): Promise<undefined> {
  const config = await readConfigIfAny(ctx.dataDir)
  const id = accountArg(ctx, config, ctx.positionals[0], 'account')
  const limit = limitArg(ctx)
  const before = optional(ctx, 'before')
  const api = await connect(ctx)
  let h: HistoryJson
  try {
    h = await api.get<HistoryJson>(`/accounts/${id}/history`, { limit, before })
  } catch (err) {
    if (!(err instanceof ApiRequestError && err.code === 'unknown-account')) throw err
    h = { account: id, entries: [], next: null }
  }
  ctx.result(h, () => [
    `account ${h.account}`,
    ...(h.entries.length === 0
      ? ['no history']
      : table([['when', 'kind', 'change', 'status', 'detail'], ...h.entries.map(e => [when(e.ts), e.kind, (e.deltaWh > 0 ? '+' : '') + kwh(e.deltaWh), e.status, detail(e, h.account)])])),
    ...(h.next !== null ? [`more: --before ${h.next}`] : [])
  ])
  return undefined
}

export async function devices (ctx: Context): Promise<undefined> {
  const category = optional(ctx, 'category')
  if (category !== undefined && !(DEVICE_CATEGORIES as readonly string[]).includes(category)) {
    throw new UsageError(`--category: expected one of ${DEVICE_CATEGORIES.join(', ')}`, ctx.command)
  }
  const api = await connect(ctx)
  const res = await api.get<{ devices: DeviceJson[] }>('/devices', { category })
  ctx.result(res, () => res.devices.length === 0
    ? ['no devices registered']
    : table([['device', 'label', 'category', 'usable now', 'relay', 'days left'], ...res.devices.map(d => [
        d.id, d.label, d.category, kwh(d.funds.usableNowWh),
        d.meter === null ? '—' : `${d.meter.relay ? 'on' : 'off'} (${d.meter.reason})`,
        d.meter?.daysRemaining === null || d.meter?.daysRemaining === undefined ? '—' : d.meter.daysRemaining.toFixed(1)
      ])]))
  return undefined
}

export async function qr (ctx: Context): Promise<undefined> {
  const config = await readConfigIfAny(ctx.dataDir)
  const id = accountArg(ctx, config, ctx.positionals[0], 'device')
  const svg = optional(ctx, 'svg')
  const api = await connect(ctx)
  const d = await api.get<DeviceJson>(`/devices/${id}`)
  if (svg !== undefined) {
    await writeFile(svg, renderSVG(d.qr, { border: 2 }) + '\n').catch((err: NodeJS.ErrnoException) => {
      throw new CliError(`--svg: cannot write ${svg} (${err.code ?? err.message})`, { code: 'write-failed' })
    })
  }
  ctx.result({ device: d.id, label: d.label, qr: d.qr, svg: svg ?? null }, () => [
    `${d.label} (${d.category})`,
    ...(svg !== undefined ? [`wrote ${svg}`] : renderUnicodeCompact(d.qr, { border: 1 }).split('\n')),
    d.qr
  ])
  return undefined
}

/** One CSV field (RFC 4180). */
function csvField (v: string | number | null): string {
  const s = v === null ? '' : String(v)
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s
}

export const CSV_COLUMNS = ['time', 'ts', 'id', 'kind', 'author', 'seq', 'status', 'delta_wh', 'balance_wh', 'counterparty', 'contract', 'body'] as const

export async function exportCsv (ctx: Context): Promise<undefined> {
  const config = await readConfigIfAny(ctx.dataDir)
  const id = accountArg(ctx, config, ctx.positionals[0], 'account')
  const file = required(ctx, 'csv', 'file')
  const api = await connect(ctx)
  const entries: HistoryEntry[] = []
  let before: string | undefined
  try {
    for (;;) {
      const page = await api.get<HistoryJson>(`/accounts/${id}/history`, { limit: 500, before })
      entries.push(...page.entries)
      if (page.next === null || page.entries.length === 0) break
      before = page.next
    }
  } catch (err) {
    if (!(err instanceof ApiRequestError && err.code === 'unknown-account')) throw err
  }
  entries.reverse() // oldest first, with the balance after each
  let running = 0
  const lines = [CSV_COLUMNS.join(',')]
  for (const e of entries) {
    running += e.deltaWh
    const b = e.body
    const counterparty = e.kind === 'transfer' ? (e.author === id ? String(b.to) : e.author)
      : e.kind === 'receipt' ? (String(b.payer) === id ? String(b.payee) : String(b.payer))
        : e.author === id ? '' : e.author
    const contract = typeof b.contract === 'string' ? b.contract : ''
    lines.push([new Date(e.ts).toISOString(), e.ts, e.id, e.kind, e.author, e.seq, e.status, e.deltaWh, running, counterparty, contract, JSON.stringify(b)].map(csvField).join(','))
  }
  try {
    await writeFileAtomic(file, lines.join('\r\n') + '\r\n')
  } catch (err) {
    throw new CliError(`--csv: ${(err as Error).message}`, { code: 'write-failed' })
  }
  ctx.result({ account: id, file, rows: entries.length, balanceWh: running }, () => [`wrote ${file}: ${entries.length} entries of ${id}, balance ${kwh(running)}`])
  return undefined
}

// ---------------------------------------------------------------------------------------------------
// Acting

function opLine (r: OpResultJson): string {
  return `${r.status} — op ${r.id} (${r.kind} #${r.seq} by ${short(r.author)})`
}

export async function buy (ctx: Context): Promise<undefined> {
  const config = await readConfigIfAny(ctx.dataDir)
  const seller = accountArg(ctx, config, required(ctx, 'seller', 'account id'), '--seller')
  const amountText = required(ctx, 'amount', 'dollars')
  decimalForm(amountText, '--amount', ctx.command) // the currency's decimals are checked below
  const contract = flag(ctx, 'wholesale') ? 'wholesale-seller' : 'retail-seller'
  const paymentId = optional(ctx, 'payment-id')
  const as = asArg(ctx, config)
  const api = await connect(ctx)
  const currency = await currencyOf(api)
  const amount = decimal(amountText, currency.digits, `--amount (${currency.code})`, ctx.command)
  const res = await api.post<PaymentJson>('/actions/buy', { seller, amount, contract, ...as, ...(paymentId !== undefined ? { paymentId } : {}) })
  const r = res.result
  ctx.result(res, () => [
    `${r.duplicate ? 'already paid' : 'paid'} ${money(amount, currency)} to ${seller} (${contract}, payment ${r.paymentId})`,
    `receipt   #${r.seq} by oracle ${r.oracle}${r.result !== undefined ? `: ${r.result.status}` : ''}`,
    'the seller\'s node settles it in units at its price (microgrid balance shows them)'
  ])
  return undefined
}

export async function fund (ctx: Context): Promise<undefined> {
  const config = await readConfigIfAny(ctx.dataDir)
  const device = accountArg(ctx, config, ctx.positionals[0], 'device')
  const wh = kwhToWh(required(ctx, 'kwh', 'kWh'), '--kwh', ctx.command)
  const fromText = optional(ctx, 'from')
  const untilText = optional(ctx, 'until')
  if (fromText !== undefined && untilText === undefined) throw new UsageError('--from needs --until: a funding window has an end', ctx.command)
  const now = Date.now()
  const window = untilText === undefined
    ? null
    : { from: fromText === undefined ? now : timeArg(fromText, '--from', ctx.command, now), until: timeArg(untilText, '--until', ctx.command, now) }
  if (window !== null && window.until <= window.from) throw new UsageError('--until must be after --from', ctx.command)
  const as = asArg(ctx, config)
  const api = await connect(ctx)
  const r = await api.post<OpResultJson>('/actions/fund', { device, wh, window, ...as })
  ctx.result(r, () => [
    `funded    ${device} with ${kwh(wh)}${window !== null ? ` from ${when(window.from)} until ${when(window.until)}` : ''}`,
    `op        ${opLine(r)}`,
    ...(r.funds !== undefined ? [`device    usable now ${kwh(r.funds.usableNowWh)}, balance ${kwh(r.funds.balanceWh)}`] : [])
  ])
  return undefined
}

export async function price (ctx: Context): Promise<undefined> {
  const config = await readConfigIfAny(ctx.dataDir)
  const perMWh = (name: string): number | undefined => {
    const v = optional(ctx, name)
    return v === undefined ? undefined : decimal(v, 3, `--${name} (minor units per kWh)`, ctx.command)
  }
  const wholesale = perMWh('wholesale')
  const retail = perMWh('retail')
  const as = asArg(ctx, config)
  if (wholesale === undefined && retail === undefined && as.as !== undefined) throw new UsageError('--as applies when setting a price (--wholesale, --retail)', ctx.command)
  const api = await connect(ctx)
  if (wholesale === undefined && retail === undefined) {
    const res = await api.get<{ currency: Currency, sellers: Array<{ account: string, role: string, label: string | null, wholesale: Price | null, retail: Price | null }> }>('/prices')
    ctx.result(res, () => res.sellers.length === 0
      ? ['no producers or utilities registered']
      : table([['seller', 'role', 'label', 'wholesale', 'retail'], ...res.sellers.map(s => [
          s.account, s.role, s.label ?? '', priceText(s.wholesale, res.currency.code), priceText(s.retail, res.currency.code)
        ])]))
    return undefined
  }
  const r = await api.post<OpResultJson>('/actions/price', { ...(wholesale !== undefined ? { wholesale } : {}), ...(retail !== undefined ? { retail } : {}), ...as })
  ctx.result(r, () => [
    ...(wholesale !== undefined ? [`wholesale ${wholesale} minor units per MWh (${wholesale / 1000}/kWh)`] : []),
    ...(retail !== undefined ? [`retail    ${retail} minor units per MWh (${retail / 1000}/kWh)`] : []),
    `op        ${opLine(r)}`
  ])
  return undefined
}

const REGISTER_OPTIONS: Record<'producer' | 'device' | 'utility', string[]> = {
  producer: ['account', 'meter', 'capacity', 'label'],
  device: ['meter', 'label', 'category', 'position'],
  utility: ['account', 'label']
}

export async function register (ctx: Context): Promise<undefined> {
  const what = ctx.positionals[0] === 'consumer' ? 'device' : ctx.positionals[0] as string
  if (what !== 'producer' && what !== 'device' && what !== 'utility') {
    throw new UsageError(`register what? expected producer, device or utility, got ${JSON.stringify(ctx.positionals[0])}`, ctx.command)
  }
  for (const name of ['account', 'meter', 'capacity', 'label', 'category', 'position']) {
    if (ctx.values[name] !== undefined && !REGISTER_OPTIONS[what].includes(name)) {
      throw new UsageError(`--${name} does not apply to register ${what} (it takes ${REGISTER_OPTIONS[what].map(o => `--${o}`).join(', ')})`, ctx.command)
    }
  }
  const config = await readConfigIfAny(ctx.dataDir)
  const label = required(ctx, 'label', 'text')
  let body: Record<string, unknown>
  if (what === 'producer') {
    const capacity = required(ctx, 'capacity', 'W')
    if (!/^\d+$/.test(capacity) || Number(capacity) < 1) throw new UsageError(`--capacity: expected the nameplate capacity in whole W, got ${JSON.stringify(capacity)}`, ctx.command)
    body = {
      role: 'producer',
      account: accountArg(ctx, config, required(ctx, 'account', 'account id'), '--account'),
      meter: accountArg(ctx, config, required(ctx, 'meter', 'account id'), '--meter'),
      capacityW: Number(capacity),
      label
    }
  } else if (what === 'utility') {
    body = { role: 'utility', account: accountArg(ctx, config, required(ctx, 'account', 'account id'), '--account'), label }
  } else {
    const category = optional(ctx, 'category') ?? 'household'
    if (!(DEVICE_CATEGORIES as readonly string[]).includes(category)) throw new UsageError(`--category: expected one of ${DEVICE_CATEGORIES.join(', ')}`, ctx.command)
    const pos = optional(ctx, 'position')
    let position: [number, number] | null = null
    if (pos !== undefined) {
      const m = /^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$/.exec(pos)
      const lat = Number(m?.[1])
      const lon = Number(m?.[2])
      if (m === null || Math.abs(lat) > 90 || Math.abs(lon) > 180) {
        throw new UsageError(`--position: expected <latitude>,<longitude> in degrees such as --position=18.4655,-66.1057, got ${JSON.stringify(pos)}`, ctx.command)
      }
      position = [lat, lon]
    }
    body = { role: 'consumer', meter: accountArg(ctx, config, required(ctx, 'meter', 'account id'), '--meter'), label, category, position }
  }
  const as = asArg(ctx, config)
  const api = await connect(ctx)
  const r = await api.post<OpResultJson>('/actions/register', { ...body, ...as })
  ctx.result(r, () => [
    `registered ${String(body.account ?? body.meter)} as ${what === 'device' ? `a ${String(body.category)} device` : `a ${what}`} "${label}"`,
    `op         ${opLine(r)}`
  ])
  return undefined
}

export async function pay (ctx: Context): Promise<undefined> {
  const config = await readConfigIfAny(ctx.dataDir)
  const payer = accountArg(ctx, config, required(ctx, 'payer', 'account id'), '--payer')
  const payee = accountArg(ctx, config, required(ctx, 'payee', 'account id'), '--payee')
  const contract = contractArg(ctx, optional(ctx, 'contract'))
  const amountText = required(ctx, 'amount', 'dollars')
  decimalForm(amountText, '--amount', ctx.command)
  const paymentId = optional(ctx, 'payment-id')
  const api = await connect(ctx)
  const currency = await currencyOf(api)
  const amountMinor = decimal(amountText, currency.digits, `--amount (${currency.code})`, ctx.command)
  const res = await api.post<PaymentJson>('/payments/simulate', { payer, payee, contract, amountMinor, ...(paymentId !== undefined ? { paymentId } : {}) })
  const r = res.result
  ctx.result(res, () => [
    `${r.duplicate ? 'already receipted' : 'receipted'} ${money(amountMinor, currency)} from ${payer} to ${payee} (${contract}, payment ${r.paymentId})`,
    `receipt   #${r.seq} by oracle ${r.oracle}${r.result !== undefined ? `: ${r.result.status}` : ''}`
  ])
  return undefined
}

/** Whether a node runs on the data directory (for `status`, to choose the API or the offline read). */
export async function running (dataDir: string): Promise<boolean> {
  return await readRun(dataDir) !== undefined
}
