/**
 * `npm start` as a person runs it: `node demo/src/main.ts` in a process of its own, on a fresh directory
 * and free ports, prints the UI's page links and the API with its token, and both answer; Ctrl-C
 * (SIGINT) stops it with exit code 0 within seconds; a second start on the same directory (named by
 * MICROGRID_ISLAND_DIR this time) resumes the same island. `--help` lists the options; a wrong
 * argument is refused with a message that names it.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url))
// As the root package.json's `start` script runs it.
const NODE_ARGS = ['--disable-warning=ExperimentalWarning', MAIN]
const PAGES = ['resident', 'consumer-sim', 'producer', 'producer-sim', 'utility', 'payment-sim', 'explorer']

interface Island {
  out: string[]
  err: string[]
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** Resolves with the first stdout line matching `re`; rejects if the process exits first. */
  line: (re: RegExp, ms?: number) => Promise<string>
  interrupt: () => boolean
  kill: () => void
}

function startIsland (args: string[], env: Record<string, string> = {}): Island {
  const { MICROGRID_ISLAND_DIR: _, ...inherited } = process.env
  const proc = spawn(process.execPath, [...NODE_ARGS, ...args], { cwd: ROOT, env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const out: string[] = []
  const err: string[] = []
  const waiters: Array<{ re: RegExp, resolve: (l: string) => void }> = []
  createInterface({ input: proc.stdout }).on('line', l => {
    out.push(l)
    for (const w of waiters.filter(x => x.re.test(l))) { waiters.splice(waiters.indexOf(w), 1); w.resolve(l) }
  })
  createInterface({ input: proc.stderr }).on('line', l => err.push(l))
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve => proc.on('exit', (code, signal) => resolve({ code, signal })))
  return {
    out, err, exited,
    line: async (re, ms = 90_000) => {
      const seen = out.find(l => re.test(l))
      if (seen !== undefined) return seen
      return await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${re} within ${ms} ms; stdout: ${out.join('\n')}\nstderr: ${err.join('\n')}`)), ms)
        waiters.push({ re, resolve: l => { clearTimeout(timer); resolve(l) } })
        void exited.then(e => { clearTimeout(timer); reject(new Error(`the island exited (${e.code ?? e.signal}) before ${re}; stderr: ${err.join('\n')}`)) })
      })
    },
    interrupt: () => proc.kill('SIGINT'),
    kill: () => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL') }
  }
}

/** What the island printed once it runs: its page links, the API and the token. */
interface Printed { pages: Map<string, URL>, api: string, token: string }

async function printed (island: Island): Promise<Printed> {
  await island.line(/^Ctrl-C stops it/)
  const pages = new Map<string, URL>()
  for (const l of island.out) {
    const link = /^ {2}\S.*? {2,}(http:\/\/127\.0\.0\.1:\d+\/#\/([\w-]+)\?token=\S+)$/.exec(l)
    if (link !== null) pages.set(link[2] as string, new URL(link[1] as string))
  }
  const api = island.out.map(l => /^API \(docs\/API\.md\) +(http:\/\/127\.0\.0\.1:\d+\/api\/v1) /.exec(l)?.[1]).find(u => u !== undefined)
  const token = island.out.map(l => /^ {2}export TOKEN=(\S+)$/.exec(l)?.[1]).find(t => t !== undefined)
  if (api === undefined || token === undefined) throw new Error(`no API URL or token printed:\n${island.out.join('\n')}`)
  return { pages, api, token }
}

interface Status { grid: { id: string, name: string }, ops: { decided: number } }

async function status (p: Printed): Promise<Status> {
  const res = await fetch(`${p.api}/status`, { headers: { Authorization: `Bearer ${p.token}` } })
  if (res.status !== 200) throw new Error(`GET /status: ${res.status}`)
  return await res.json() as Status
}

/** Sends Ctrl-C; the exit code and how long the island took to stop. */
async function interrupt (island: Island): Promise<{ code: number | null, signal: NodeJS.Signals | null, ms: number }> {
  const sent = performance.now()
  expect(island.interrupt()).toBe(true)
  const exit = await Promise.race([island.exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('still running 10 s after SIGINT')), 10_000))])
  return { ...exit, ms: performance.now() - sent }
}

let dir: string
let ui: string
const running: Island[] = []
let before: { grid: string, token: string, decided: number }

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'microgrid-npm-start-'))
  // The UI as the sources say now, built apart (desktop/dist may be rebuilt meanwhile by someone else).
  ui = join(dir, 'ui')
  const built = spawnSync('npm', ['run', 'build', '-w', 'desktop', '--', '--logLevel', 'warn', '--outDir', ui], { cwd: ROOT, encoding: 'utf8' })
  if (built.status !== 0 || !existsSync(join(ui, 'index.html'))) throw new Error(`the UI did not build: ${built.stderr}`)
}, 120_000)

afterAll(async () => {
  for (const island of running) island.kill()
  await rm(dir, { recursive: true, force: true })
})

describe('npm start (node demo/src/main.ts)', () => {
  it('--help prints the usage and every option, the island directory variable among them, and exits 0', () => {
    const help = spawnSync(process.execPath, [...NODE_ARGS, '--help'], { cwd: ROOT, encoding: 'utf8' })
    expect(help.status).toBe(0)
    expect(help.stdout).toMatch(/^usage: npm start \[-- --dir <island dir>\]/)
    for (const option of ['--dir', '--port', '--pace', '--ui', '--quiet', '--help', '$MICROGRID_ISLAND_DIR']) expect(help.stdout).toContain(option)
    expect(help.stderr).toBe('')
  })

  it('refuses a wrong argument with exit code 2, a message naming it and the usage', () => {
    for (const [args, message] of [
      [['--colour', 'green'], "island: Unknown option '--colour'"],
      [['--port', 'eighty'], 'island: --port: expected a port number (0 for free ones), got eighty'],
      [['--ui', dir], `island: --ui: no index.html in ${dir}`]
    ] as const) {
      const run = spawnSync(process.execPath, [...NODE_ARGS, ...args], { cwd: ROOT, encoding: 'utf8' })
      expect(run.status, args.join(' ')).toBe(2)
      expect(run.stderr).toContain(message)
      expect(run.stderr).toContain('usage: npm start')
      expect(run.stdout).toBe('')
    }
  })

  it('on a fresh directory and free ports prints the links, serves the API with the printed token and the UI, and stops on Ctrl-C with exit 0', async () => {
    const island = startIsland(['--dir', join(dir, 'island'), '--port', '0', '--ui', ui])
    running.push(island)
    const p = await printed(island)
    expect([...p.pages.keys()]).toEqual(PAGES)
    for (const url of p.pages.values()) expect(url.hash).toMatch(new RegExp(`\\?token=${p.token}$`))
    // Three parties' nodes serve the pages; the utility's serves the API.
    const origins = new Set([...p.pages.values()].map(u => u.origin))
    expect(origins.size).toBe(3)
    expect([...origins]).toContain(new URL(p.api).origin)

    const first = await status(p)
    expect(first.grid.name).toBe('Isla Verde')
    expect((await fetch(`${p.api}/status`)).status).toBe(401)
    const index = await readFile(join(ui, 'index.html'), 'utf8')
    for (const origin of origins) {
      const page = await fetch(`${origin}/`)
      expect(page.status).toBe(200)
      expect(page.headers.get('content-type')).toMatch(/^text\/html/)
      expect(await page.text()).toBe(index)
    }

    // The island runs by itself: meters mint, parties trade.
    await expect.poll(async () => (await status(p)).ops.decided, { timeout: 60_000, interval: 500 }).toBeGreaterThan(first.ops.decided)
    before = { grid: first.grid.id, token: p.token, decided: (await status(p)).ops.decided }
    const stop = await interrupt(island)
    expect(stop, island.err.join('\n')).toMatchObject({ code: 0, signal: null })
    expect(stop.ms).toBeLessThan(5_000)
    expect(island.out).toContain('Stopping the island ...')
    expect(island.err).toEqual([])
  }, 150_000)

  it('a second start on the same directory, named by MICROGRID_ISLAND_DIR, resumes the same island', async () => {
    expect(before).toBeDefined()
    const island = startIsland(['--port', '0', '--ui', ui, '--quiet'], { MICROGRID_ISLAND_DIR: join(dir, 'island') })
    running.push(island)
    expect(await island.line(/^Starting the island in /)).toBe(`Starting the island in ${join(dir, 'island')} ...`)
    const p = await printed(island)
    expect(p.token).toBe(before.token)
    const again = await status(p)
    expect(again.grid.id).toBe(before.grid)
    expect(again.ops.decided).toBeGreaterThanOrEqual(before.decided)
    const stop = await interrupt(island)
    expect(stop, island.err.join('\n')).toMatchObject({ code: 0, signal: null })
    expect(stop.ms).toBeLessThan(5_000)
    expect(island.err).toEqual([])
  }, 150_000)
})
