/**
 * The seed's story clicked through in Debian's Chromium (playwright-core) against the island demo, as
 * a person would: the payment simulator pays a rooftop producer (wholesale) and the utility (retail,
 * for resident 1); on household 1's node the resident funds a street light from the map with a time
 * window and their household by scanning its QR label with the camera (Chromium's fake camera playing
 * a .y4m video of the label this test makes); in the consumer simulator a click on the bulb switches the
 * household's load off and another switches it on again: the bulb lights, the meter turns, the units
 * burn and it goes dark at zero. No console errors, no request leaves the machine. Then, with the island
 * stopped, a reload shows the last known state and says it is offline.
 *
 * Screenshots of every page go to test-results/screenshots/ at the repository's root; .ci/run prints
 * their paths at its end, also when a test fails, so whoever runs CI can keep that folder.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { encode } from 'uqr'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { accountId, type OpSigner } from '@microgrid/protocol'
import { IslandDemo } from '../src/island.ts'
import { until } from '../../node/test/cli-process.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SHOTS = join(ROOT, 'test-results', 'screenshots')
const CHROMIUM = '/usr/bin/chromium'

/** A YUV4MPEG2 video (the format Chromium's fake camera plays) of a QR code on a white page. */
function qrVideo (text: string): Uint8Array {
  const W = 640
  const H = 480
  const qr = encode(text, { border: 4 })
  const scale = Math.floor(Math.min(W, H) * 0.8 / qr.size)
  const left = Math.floor((W - qr.size * scale) / 2)
  const top = Math.floor((H - qr.size * scale) / 2)
  const y = new Uint8Array(W * H).fill(235)
  for (let r = 0; r < qr.size; r++) {
    for (let c = 0; c < qr.size; c++) {
      if (qr.data[r]?.[c] !== true) continue
      for (let dy = 0; dy < scale; dy++) y.fill(16, (top + r * scale + dy) * W + left + c * scale, (top + r * scale + dy) * W + left + (c + 1) * scale)
    }
  }
  const chroma = new Uint8Array((W / 2) * (H / 2) * 2).fill(128)
  const header = new TextEncoder().encode(`YUV4MPEG2 W${W} H${H} F10:1 Ip A1:1 C420jpeg\n`)
  const frame = new TextEncoder().encode('FRAME\n')
  const frames = 10
  const out = new Uint8Array(header.length + frames * (frame.length + y.length + chroma.length))
  out.set(header, 0)
  let at = header.length
  for (let i = 0; i < frames; i++) {
    out.set(frame, at); at += frame.length
    out.set(y, at); at += y.length
    out.set(chroma, at); at += chroma.length
  }
  return out
}

/** A datetime-local value (the browser's time zone is the test's: TZ is passed to Chromium). */
const local = (ms: number): string => {
  const d = new Date(ms)
  const p = (n: number): string => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`
}

let dir: string
let demo: IslandDemo | undefined
let browser: Browser
let context: BrowserContext
let page: Page
const consoleErrors: string[] = []
const offsite: string[] = []

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'microgrid-ui-e2e-'))
  // The UI as the sources say now, built apart (desktop/dist may be rebuilt meanwhile by someone else).
  const UI = join(dir, 'ui')
  const built = spawnSync('npm', ['run', 'build', '-w', 'desktop', '--', '--logLevel', 'warn', '--outDir', UI], { cwd: ROOT, encoding: 'utf8' })
  if (built.status !== 0 || !existsSync(join(UI, 'index.html'))) throw new Error(`the UI did not build: ${built.stderr}`)
  await mkdir(SHOTS, { recursive: true })
  demo = await IslandDemo.start({ dir: join(dir, 'island'), port: 0, ui: UI, autoplay: false })
  const devices = await api<{ devices: Array<{ label: string, qr: string }> }>(demo.urls.household, '/devices')
  const label = devices.devices.find(d => d.label === 'Household 1')
  if (label === undefined) throw new Error('no Household 1 device')
  const video = join(dir, 'label.y4m')
  await writeFile(video, qrVideo(label.qr))
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-video-capture=${video}`]
  })
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  context.on('request', r => {
    const u = new URL(r.url())
    if (!['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol)) return
    if (u.hostname !== '127.0.0.1' && u.hostname !== 'localhost') offsite.push(r.url())
  })
  context.on('response', r => { if (r.status() >= 400) consoleErrors.push(`${r.status()} ${r.url()}`) })
  page = await context.newPage()
  page.on('console', m => { if (m.type() === 'error') consoleErrors.push(m.text()) })
  page.on('pageerror', e => { consoleErrors.push(String(e)) })
}, 180_000)

afterAll(async () => {
  await browser?.close()
  await demo?.stop()
  await rm(dir, { recursive: true, force: true })
})

async function api<T> (base: string, path: string): Promise<T> {
  const res = await fetch(`${base}/api/v1${path}`, { headers: { Authorization: `Bearer ${(demo as IslandDemo).token}` } })
  if (!res.ok) throw new Error(`${path}: ${res.status}`)
  return await res.json() as T
}

const id = (name: string): string => accountId(((demo as IslandDemo).keys.get(name) as OpSigner).publicKey)
const open = async (base: string, route: string): Promise<void> => {
  await page.goto(`${base}/#/${route}?token=${(demo as IslandDemo).token}`)
  await page.getByRole('status', { name: 'Connection' }).getByText('Live').waitFor({ timeout: 30_000 })
}
const shot = async (name: string): Promise<void> => { await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true }) }
const balance = async (base: string, name: string): Promise<number> => (await api<{ balanceWh: number }>(base, `/accounts/${id(name)}`)).balanceWh

describe('the seed story in a browser', () => {
  it('pays a producer wholesale in the payment simulator: the receipt appears and the producer\'s node settles it', async () => {
    const d = demo as IslandDemo
    await until('producer 1 to hold minted units', async () => await balance(d.urls.utility, 'producer-1'), wh => wh >= 700, 60_000)
    await open(d.urls.utility, 'payment-sim')
    await page.getByLabel('Kind of sale').selectOption('wholesale-seller')
    await page.getByLabel('Who pays').selectOption(id('utility'))
    await page.getByLabel('Who is paid').selectOption(id('producer-1'))
    await page.getByLabel('Amount (USD)').fill('0.05')
    await page.getByRole('button', { name: 'Pay' }).click()
    await page.getByText(/^Settled: 0\.63 kWh delivered to Isla Verde Power & Light/).waitFor({ timeout: 60_000 })
    await shot('payment-simulator')
  }, 120_000)

  it('pays the utility retail for resident 1, who sees the units on the resident page', async () => {
    const d = demo as IslandDemo
    await page.getByLabel('Kind of sale').selectOption('retail-seller')
    // Resident 1 is new to the ledger: the payment desk types in their account id.
    await page.getByLabel('Who pays').selectOption('other')
    await page.getByLabel('Payer\'s account id').fill(id('resident-1'))
    await page.getByLabel('Who is paid').selectOption(id('utility'))
    await page.getByLabel('Amount (USD)').fill('0.05')
    await page.getByRole('button', { name: 'Pay' }).click()
    await page.getByText(/^Settled: 0\.4 kWh delivered to/).waitFor({ timeout: 60_000 })
    await open(d.urls.household, 'resident')
    await expect.poll(async () => await page.getByLabel('Your balance').textContent(), { timeout: 30_000 }).toBe('0.4 kWh')
  }, 120_000)

  it('funds a street light from the map, for a time window', async () => {
    await page.getByRole('button', { name: 'On the map' }).click()
    await page.getByRole('region', { name: 'Map of devices' }).getByRole('button', { name: 'Street light 1, Calle Luna' }).click()
    await page.getByText('Funding Street light 1, Calle Luna').waitFor()
    await page.getByLabel('Units (kWh)').fill('0.05')
    await page.getByLabel('Only for a time window').check()
    const now = Date.now()
    await page.getByLabel('From', { exact: true }).fill(local(now - 60_000))
    await page.getByLabel('Until', { exact: true }).fill(local(now + 3_600_000))
    await page.getByRole('button', { name: 'Fund', exact: true }).click()
    await page.getByText('Gave 0.05 kWh to Street light 1, Calle Luna.').waitFor({ timeout: 30_000 })
    await shot('resident-map')
  }, 60_000)

  it('funds household 1 by scanning its QR label with the camera', async () => {
    await page.getByRole('button', { name: 'Scan its QR code' }).click()
    await page.getByRole('button', { name: 'Scan with camera' }).click()
    await page.getByText('Funding Household 1').waitFor({ timeout: 30_000 })
    await page.getByLabel('Units (kWh)').fill('0.02')
    await page.getByLabel('Only for a time window').uncheck()
    await page.getByRole('button', { name: 'Fund', exact: true }).click()
    await page.getByText('Gave 0.02 kWh to Household 1.').waitFor({ timeout: 30_000 })
    await expect.poll(async () => await page.getByLabel('Your balance').textContent(), { timeout: 30_000 }).toBe('0.33 kWh')
    await shot('resident')
  }, 60_000)

  it('switches the household\'s load off and on again with a click on the bulb: it lights, the meter turns, the units burn and it goes dark at zero', async () => {
    const d = demo as IslandDemo
    await open(d.urls.household, 'consumer-sim')
    await page.getByLabel('Device').selectOption({ label: 'Household 1' })
    const state = page.getByRole('status', { name: 'Bulb state' })
    const meter = page.getByRole('figure', { name: 'Household meter' })
    const reading = async (): Promise<number> => parseFloat(await meter.getByLabel('Meter reading').textContent() ?? '')
    const metered = async (): Promise<number> => {
      const { meters } = await api<{ meters: Array<{ label: string, on: boolean, meteredWh: number }> }>(d.urls.household, '/simulator')
      const household = meters.find(m => m.label === 'Household 1')
      if (household === undefined) throw new Error('no simulated Household 1')
      return household.meteredWh
    }
    // The island's loads start switched on: the funded household is lit.
    await expect.poll(async () => await state.textContent(), { timeout: 30_000 }).toMatch(/^Lit, drawing/)

    await page.getByRole('button', { name: 'Bulb switch: on (click to switch off)' }).click()
    const bulb = page.getByRole('button', { name: 'Bulb switch: off (click to switch on)' })
    await expect.poll(async () => await state.textContent(), { timeout: 10_000 }).toBe('On, but the load is switched off: nothing is drawn.')
    expect(await bulb.getAttribute('aria-pressed')).toBe('false')
    // Its relay stays on (funds remain), yet no power flows through the switched-off load.
    const off = await metered()
    await new Promise(resolve => setTimeout(resolve, 3_000)) // at 2 kW a pulse (1 Wh) comes every 1.8 s
    expect(await metered()).toBe(off)
    await shot('consumer-simulator-switched-off')

    const before = await reading()
    await bulb.click()
    const lit = page.getByRole('button', { name: 'Bulb switch: on (click to switch off)' })
    await expect.poll(async () => await state.textContent(), { timeout: 10_000 }).toMatch(/^Lit, drawing \d+ W/)
    expect(await lit.getAttribute('aria-pressed')).toBe('true')
    expect(await lit.locator('circle').count()).toBe(1) // the glow around a lit bulb
    expect(await meter.locator('figcaption').textContent()).toMatch(/^Turning: \d+ W$/)
    await expect.poll(metered, { timeout: 10_000 }).toBeGreaterThan(off)
    await expect.poll(reading, { timeout: 30_000 }).toBeGreaterThan(before)
    await shot('consumer-simulator-lit')

    await expect.poll(async () => await state.textContent(), { timeout: 90_000 }).toMatch(/^Dark: the funds ran out/)
    const household = await api<{ funds: { burnedWh: number, usableNowWh: number } }>(d.urls.household, `/devices/${id('home-1/meter')}`)
    expect(household.funds).toMatchObject({ burnedWh: 20, usableNowWh: 0 })
    await expect.poll(reading, { timeout: 10_000 }).toBe(0.02)
    await shot('consumer-simulator-dark')
  }, 180_000)

  it('shows every other page without an error, and nothing leaves the machine', async () => {
    const d = demo as IslandDemo
    for (const [base, route, name] of [
      [d.urls.producer, 'producer', 'producer'], [d.urls.producer, 'producer-sim', 'producer-simulator'],
      [d.urls.utility, 'utility', 'utility-console'], [d.urls.utility, 'explorer', 'ledger-explorer'], [d.urls.utility, 'network', 'network']
    ] as const) {
      await open(base, route)
      await page.getByRole('heading', { level: 1 }).first().waitFor()
      await shot(name)
    }
    expect(consoleErrors).toEqual([])
    expect(offsite).toEqual([])
  }, 120_000)

  it('offline: with the island stopped, a reload shows the last known balance and says so', async () => {
    const d = demo as IslandDemo
    await open(d.urls.household, 'resident')
    await expect.poll(async () => await page.getByLabel('Your balance').textContent(), { timeout: 30_000 }).toBe('0.33 kWh')
    await d.stop()
    demo = undefined
    await page.reload().catch(() => {})
    await page.getByText(/^Offline: showing what this app last saw at/).waitFor({ timeout: 30_000 })
    expect(await page.getByLabel('Your balance').textContent()).toBe('0.33 kWh')
    await shot('resident-offline')
  }, 90_000)
})
