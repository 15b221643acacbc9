/**
 * `microgrid start` in LAN mode: for each LAN address the link a phone opens (the UI with the token in
 * the fragment), in the human output and in --json, and with --qr the first as a QR code. The machine's
 * interfaces are replaced by one LAN address, 192.0.2.77 (TEST-NET-1): the server binds every interface,
 * so a request to 127.0.0.1 with that Host is what the node sees of a phone that opened the link.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { renderUnicodeCompact } from 'uqr'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { cliRunning as cli } from './cli-process.ts'
import { rawRequest } from './api-fixture.ts'

const { LAN_ADDRESS } = vi.hoisted(() => ({ LAN_ADDRESS: '192.0.2.77' }))

vi.mock(import('node:os'), async importOriginal => {
  const os = await importOriginal()
  const lo = { address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' } as const
  const eth = { address: LAN_ADDRESS, netmask: '255.255.255.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal: false, cidr: `${LAN_ADDRESS}/24` } as const
  const networkInterfaces = (): ReturnType<typeof os.networkInterfaces> => ({ lo: [lo], eth0: [eth] })
  return { ...os, networkInterfaces, default: { ...os.default, networkInterfaces } }
})

const PASS = 'lan test passphrase'
const INDEX = '<!doctype html><title>Microgrid</title>'
let base: string
let data: string
let ui: string
let token: string


const START = ['start', '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0']

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'microgrid-lan-'))
  data = join(base, 'node')
  ui = join(base, 'dist')
  await mkdir(ui)
  await writeFile(join(ui, 'index.html'), INDEX)
  process.env.MICROGRID_PASSPHRASE = PASS
  const init = await cli(['init', '--data', data, '--keys', 'registrar,oracle', '--light-kdf', '--api-port', '0', '--lan', '--json'])
  expect(init.code, init.err).toBe(0)
  expect((await cli(['grid', 'create', '--data', data, '--name', 'Isla', '--currency', 'USD', '--json'])).code).toBe(0)
  token = (JSON.parse(await readFile(join(data, 'config.json'), 'utf8')) as { api: { token: string } }).api.token
}, 60_000)
afterAll(async () => { await rm(base, { recursive: true, force: true }) })

describe('microgrid start --lan', () => {
  it('gives, for each LAN address, the link a phone opens; loading it with its token works', async () => {
    const run = await cli([...START, '--data', data, '--ui', ui, '--json'])
    try {
      expect(run.code, run.err).toBe(0)
      const result = JSON.parse(run.out) as { api: string, ui: string, lanUrls: string[], lanUi: string[] }
      const port = new URL(result.api).port
      expect(result.lanUrls).toEqual([`http://${LAN_ADDRESS}:${port}`])
      expect(result.lanUi).toEqual([`http://${LAN_ADDRESS}:${port}/#token=${encodeURIComponent(token)}`])
      expect(result.ui).toBe(`${result.api}/#token=${encodeURIComponent(token)}`)

      // The phone: the page at the link's address, then the API with the token the link's fragment holds.
      const link = new URL(result.lanUi[0]!)
      const fromFragment = decodeURIComponent(/^#token=(.+)$/.exec(link.hash)![1]!)
      expect(fromFragment).toBe(token)
      const asPhone = (path: string, headers: Record<string, string> = {}): ReturnType<typeof rawRequest> =>
        rawRequest(`http://127.0.0.1:${port}${path}`, { headers: { Host: link.host, ...headers } })
      const page = await asPhone(link.pathname)
      expect(page.status).toBe(200)
      expect(page.body).toBe(INDEX)
      const status = await asPhone('/api/v1/status', { Authorization: `Bearer ${fromFragment}` })
      expect(status.status).toBe(200)
      expect(JSON.parse(status.body)).toMatchObject({ grid: { name: 'Isla' } })
      expect((await asPhone('/api/v1/status')).status).toBe(401)
      expect((await asPhone('/api/v1/status', { Authorization: `Bearer ${token}x` })).status).toBe(401)
      // An address the machine does not have is still refused (DNS rebinding).
      const elsewhere = await rawRequest(`http://127.0.0.1:${port}/`, { headers: { Host: `192.0.2.78:${port}` } })
      expect(elsewhere.status).toBe(421)
    } finally {
      await run.stop()
    }
  })

  it('prints the phone link on the lan line and, with --qr, its QR code under it', async () => {
    const run = await cli([...START, '--data', data, '--ui', ui, '--qr'])
    try {
      expect(run.code, run.err).toBe(0)
      const lines = run.out.split('\n')
      const at = lines.findIndex(l => l.startsWith('lan '))
      expect(lines[at]).toMatch(new RegExp(`^lan +(http://${LAN_ADDRESS.replaceAll('.', '\\.')}:\\d+/#token=\\S+) \\(open on a phone on this network\\)$`))
      const link = /^lan +(\S+)/.exec(lines[at]!)![1]!
      expect(link).toBe(`http://${LAN_ADDRESS}:${/:(\d+)\/#/.exec(link)![1]}/#token=${encodeURIComponent(token)}`)
      const qr = renderUnicodeCompact(link, { border: 1 }).split('\n')
      expect(lines.slice(at + 1, at + 1 + qr.length)).toEqual(qr)
      // The invite's QR code is still there, under the invite.
      const invite = lines.findIndex(l => l.startsWith('invite '))
      expect(lines.slice(invite + 1, invite + 1 + 3).every(l => /^[ █▀▄]+$/u.test(l))).toBe(true)
    } finally {
      await run.stop()
    }
  })

  it('without a UI, the lan line gives the API\'s address and says a phone needs --ui', async () => {
    const human = await cli([...START, '--data', data])
    try {
      expect(human.code, human.err).toBe(0)
      expect(human.out).toMatch(new RegExp(`^lan +http://${LAN_ADDRESS.replaceAll('.', '\\.')}:\\d+ \\(the API; no UI for phones: start with --ui <dir>\\)$`, 'm'))
      expect(human.out).not.toMatch(/#token=/)
    } finally {
      await human.stop()
    }
    const json = await cli([...START, '--data', data, '--json'])
    try {
      expect(json.code, json.err).toBe(0)
      expect(JSON.parse(json.out)).toMatchObject({ ui: null, lanUrls: [expect.stringMatching(new RegExp(`^http://${LAN_ADDRESS.replaceAll('.', '\\.')}:\\d+$`))], lanUi: [] })
    } finally {
      await json.stop()
    }
  })

  it('bound to loopback in LAN mode, says no other device can reach it', async () => {
    const run = await cli([...START, '--data', data, '--ui', ui, '--api-host', '127.0.0.1'])
    try {
      expect(run.code, run.err).toBe(0)
      expect(run.out.split('\n').filter(l => l.startsWith('lan '))).toEqual(['lan       no address for other devices: the API listens on 127.0.0.1 only'])
    } finally {
      await run.stop()
    }
  })
})
