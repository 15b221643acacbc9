/**
 * `microgrid start`: the node on its data directory, its HTTP API, and the services its keys call for —
 * time beacons (a registrar or oracle key), the payment gateway (an oracle key), settlement (seller
 * keys: utility, producers). Runs until SIGINT/SIGTERM, which stop it cleanly.
 */
import { resolve } from 'node:path'
import { renderUnicodeCompact } from 'uqr'
import { accountId, bytesEqual, gridIdText, type OpSigner } from '@microgrid/protocol'
import { createApi, serveApi, type ServedApi } from '../api/index.ts'
import { checkUiDir } from '../api/static.ts'
import { beaconService, type BeaconService } from '../beacons.ts'
import { parseInvite } from '../invite.ts'
import { MicrogridNode } from '../node.ts'
import { paymentGateway, type PaymentGateway } from '../payments.ts'
import { settlementService, type SettlementService } from '../settlement.ts'
import { CliError, UsageError, checkMultiaddr, dialPeers, flag, list, optional, type Context, type Running } from './common.ts'
import { passphrase, paths, readConfig, readRun, removeRun, requireGenesis, unlockKeys, writeRun, type KeyConfig } from './datadir.ts'
import { syncProgress, type SyncProgress } from './progress.ts'

/** The environment variable with the Stripe webhook signing secrets, comma-separated. */
export const STRIPE_SECRETS_ENV = 'MICROGRID_STRIPE_SECRETS'

async function answers (url: string): Promise<boolean> {
  try {
    await fetch(`${url}/api/v1/status`, { signal: AbortSignal.timeout(3_000) })
    return true
  } catch {
    return false
  }
}

/**
 * The `lan` lines: per LAN address, the link a phone opens (the UI with the token) or, without a UI,
 * the API's URL; with `qr`, the first link as a QR code under its line.
 */
function lanLines (lan: boolean, host: string, lanUrls: string[], lanUi: string[], qr: boolean): string[] {
  if (!lan) return []
  if (lanUrls.length === 0) return [`lan       no address for other devices: the API listens on ${host} only`]
  if (lanUi.length === 0) return lanUrls.map(u => `lan       ${u} (the API; no UI for phones: start with --ui <dir>)`)
  return lanUi.flatMap((u, i) => [
    `lan       ${u} (open on a phone on this network)`,
    ...(i === 0 && qr ? renderUnicodeCompact(u, { border: 1 }).split('\n') : [])
  ])
}

export async function start (ctx: Context): Promise<Running> {
  const portText = optional(ctx, 'api-port')
  if (portText !== undefined && (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535)) {
    throw new UsageError(`--api-port: expected a port 0-65535, got ${JSON.stringify(portText)}`, ctx.command)
  }
  const threadsText = optional(ctx, 'verify-threads')
  if (threadsText !== undefined && (!/^\d{1,2}$/.test(threadsText) || Number(threadsText) > 64)) {
    throw new UsageError(`--verify-threads: expected a number of threads 0-64, got ${JSON.stringify(threadsText)}`, ctx.command)
  }
  const uiOption = optional(ctx, 'ui')
  if (uiOption !== undefined) {
    try {
      checkUiDir(uiOption)
    } catch (err) {
      throw new UsageError(`--ui: ${(err as Error).message.replace(/^ui\.dir: /, '')}`, ctx.command)
    }
  }
  for (const a of list(ctx, 'listen')) checkMultiaddr(a, '--listen', ctx.command, false)
  for (const a of list(ctx, 'bootstrap')) checkMultiaddr(a, '--bootstrap', ctx.command, true)
  for (const p of list(ctx, 'peer')) {
    try {
      parseInvite(p)
    } catch (err) {
      throw new UsageError(`--peer: ${(err as Error).message}`, ctx.command)
    }
  }
  const dir = ctx.dataDir
  const config = await readConfig(dir)
  const genesis = await requireGenesis(dir)
  const already = await readRun(dir)
  // Its pid is alive: a node, unless the pid was reused and nothing answers at its URL any more.
  if (already !== undefined && await answers(already.url)) {
    throw new CliError(`the node of ${dir} is already running (pid ${already.pid}, API ${already.url})`, { code: 'already-running' })
  }
  const stripeSecrets = (ctx.io.env[STRIPE_SECRETS_ENV] ?? '').split(',').map(s => s.trim()).filter(s => s !== '')
  const pass = config.keys.length > 0 ? await passphrase(ctx, false) : ''
  const signers = await unlockKeys(dir, config, pass)

  const listen = list(ctx, 'listen').length > 0 ? list(ctx, 'listen') : config.listen
  const lan = flag(ctx, 'lan') || config.api.lan
  const host = optional(ctx, 'api-host') ?? (flag(ctx, 'lan') && !config.api.lan ? '0.0.0.0' : config.api.host)
  const port = portText !== undefined ? Number(portText) : config.api.port
  const uiDir = uiOption !== undefined ? resolve(uiOption) : config.api.ui !== undefined ? resolve(dir, config.api.ui) : undefined
  if (uiOption === undefined && uiDir !== undefined) {
    try {
      checkUiDir(uiDir)
    } catch (err) {
      throw new CliError(`${paths(dir).config}: api.ui: ${(err as Error).message.replace(/^ui\.dir: /, '')}`, { code: 'bad-config' })
    }
  }
  let progress: SyncProgress | undefined
  // Lines on stderr clear the progress bar's line first (it is redrawn on the next tick).
  const note = (line: string): void => { progress?.clear(); ctx.note(line) }
  let node: MicrogridNode
  try {
    node = await MicrogridNode.start({
      genesis: genesis.bytes,
      dataDir: dir,
      listen,
      bootstrap: [...config.bootstrap, ...list(ctx, 'bootstrap')],
      mdns: config.mdns && !flag(ctx, 'no-mdns'),
      relay: flag(ctx, 'relay'),
      webrtc: flag(ctx, 'webrtc'),
      verifyThreads: threadsText !== undefined ? Number(threadsText) : 0
    })
  } catch (err) {
    throw new CliError(`cannot start the node on ${dir}: ${(err as Error).message}`, { code: 'start-failed', cause: err })
  }
  const stops: Array<() => Promise<void> | void> = [async () => await node.stop()]
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.splice(0).reverse()) await Promise.resolve(stop()).catch(() => {})
  }
  try {
    const g = node.ledger.state.genesis
    const signerOf = (k: KeyConfig): OpSigner => signers.get(k.name) as OpSigner
    const isRegistrar = (k: KeyConfig): boolean => g.registrars.some(r => bytesEqual(r, signerOf(k).publicKey))
    const isOracle = (k: KeyConfig): boolean => g.oracles.some(o => bytesEqual(o, signerOf(k).publicKey))
    for (const k of config.keys) {
      if (k.role === 'registrar' && !isRegistrar(k)) note(`warning   key "${k.name}" is not a registrar of this grid: it cannot register or publish beacons`)
      if (k.role === 'oracle' && !isOracle(k)) note(`warning   key "${k.name}" is not a payment oracle of this grid: no payments here`)
    }

    // Beacons: one authority key is enough (any registrar's or oracle's beacon witnesses the time).
    const beaconKey = config.keys.find(k => k.role === 'registrar' && isRegistrar(k)) ?? config.keys.find(k => k.role === 'oracle' && isOracle(k))
    let beacons: BeaconService | undefined
    if (beaconKey !== undefined) {
      beacons = beaconService({ node, signer: signerOf(beaconKey), onError: err => note(`beacon    failed: ${(err as Error).message}`) })
      stops.push(async () => await beacons?.stop())
    }
    const oracleKey = config.keys.find(k => k.role === 'oracle' && isOracle(k))
    let gateway: PaymentGateway | undefined
    if (oracleKey !== undefined) {
      gateway = paymentGateway({ node, oracle: signerOf(oracleKey), currency: g.currency, ...(stripeSecrets.length > 0 ? { stripe: { secrets: stripeSecrets } } : {}) })
      stops.push(async () => await gateway?.stop())
    } else if (stripeSecrets.length > 0) {
      note(`warning   ${STRIPE_SECRETS_ENV} is set but this node holds no oracle key of the grid: no Stripe webhooks here`)
    }
    const sellerKeys = config.keys.filter(k => k.role === 'utility' || k.role === 'producer')
    let settlement: SettlementService | undefined
    if (sellerKeys.length > 0) {
      settlement = settlementService({
        node,
        sellers: sellerKeys.map(signerOf),
        onSale: sale => note(`sold      ${sale.wh} Wh by ${accountId(sale.seller)} for payment ${sale.paymentId}: ${sale.result.status}`),
        onError: err => note(`settle    failed: ${(err as Error).message} (tried again later)`)
      })
      stops.push(async () => await settlement?.stop())
    }

    const app = createApi(
      { node, token: config.api.token, signers, ...(gateway !== undefined ? { payments: gateway } : {}), ...(settlement !== undefined ? { settlement } : {}) },
      uiDir !== undefined ? { ui: { dir: uiDir } } : {}
    )
    let served: ServedApi
    try {
      served = await serveApi(app, { host, port, lan })
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      throw new CliError(`the API cannot listen on ${host}:${port} (${code ?? (err as Error).message})${code === 'EADDRINUSE' ? ': another program uses the port; pick another with --api-port' : ''}`, { code: 'api-failed', cause: err })
    }
    stops.push(async () => await served.close())
    await writeRun(dir, {
      pid: process.pid, url: served.url, lanUrls: served.lanUrls, peerId: node.peerId, grid: gridIdText(node.ledger.gridId), startedAt: Date.now()
    })
    stops.push(async () => await removeRun(dir))

    if (!ctx.json) {
      progress = syncProgress(node, { tty: ctx.io.errIsTTY, write: ctx.io.errRaw, line: ctx.io.err, target: () => node.syncTarget() })
      stops.push(() => progress?.stop())
    }
    node.on('peer:bad', ({ peer, reason, banned }) => note(`${banned ? 'banned   ' : 'bad peer '} ${peer}: ${reason}`))

    const { connected, failed } = await dialPeers(node, list(ctx, 'peer'))

    const invite = node.invite()
    const keys = config.keys.map(k => ({ name: k.name, role: k.role, account: k.account }))
    const services = {
      beacons: beaconKey?.name ?? null,
      payments: oracleKey !== undefined ? { oracle: oracleKey.name, stripe: stripeSecrets.length > 0 } : null,
      settlement: sellerKeys.map(k => k.name)
    }
    const state = node.ledger.state
    // The browser's address: the token in the fragment (never sent to a server; the UI keeps it and clears the address bar).
    const withToken = (base: string): string => `${base}/#token=${encodeURIComponent(config.api.token)}`
    const uiUrl = uiDir !== undefined ? withToken(served.url) : null
    // What a phone on the LAN opens: the same, at each of this machine's LAN addresses.
    const lanUi = uiDir !== undefined ? served.lanUrls.map(withToken) : []
    ctx.result({
      grid: gridIdText(node.ledger.gridId), name: g.name, currency: g.currency,
      api: served.url, ui: uiUrl, lanUrls: served.lanUrls, lanUi, peerId: node.peerId, addresses: node.multiaddrs.map(String), invite,
      keys, services, ops: { decided: state.decidedCount, pending: state.pendingCount }, stateHash: node.stateHash(),
      connected, failed, pid: process.pid, dataDir: dir
    }, () => [
      `grid      ${gridIdText(node.ledger.gridId)} (${g.name}, ${g.currency})`,
      `api       ${served.url} (token in ${paths(dir).config})`,
      ...(uiUrl !== null ? [`ui        ${uiUrl} (open in a browser on this machine)`] : []),
      ...lanLines(lan, host, served.lanUrls, lanUi, flag(ctx, 'qr')),
      `peer id   ${node.peerId}`,
      ...node.multiaddrs.map(ma => `listening ${ma.toString()}`),
      `invite    ${invite}`,
      ...(flag(ctx, 'qr') ? renderUnicodeCompact(invite, { border: 1 }).split('\n') : []),
      ...keys.map(k => `key       ${k.name.padEnd(10)} ${k.account} (${k.role})`),
      `services  ${[
        services.beacons !== null ? `beacons (${services.beacons})` : '',
        services.payments !== null ? `payments (${services.payments.oracle}${services.payments.stripe ? ', Stripe webhooks' : ''})` : '',
        services.settlement.length > 0 ? `settlement (${services.settlement.join(', ')})` : ''
      ].filter(s => s !== '').join(', ') || 'none'}`,
      `state     ${state.decidedCount} ops, hash ${node.stateHash()}`,
      ...connected.map(p => `connected ${p}`),
      ...failed.map(f => `could not reach ${f.peer}: ${f.error}`),
      'running   until Ctrl-C'
    ])
    return { node, url: served.url, stop: stopAll }
  } catch (err) {
    await stopAll()
    throw err
  }
}
