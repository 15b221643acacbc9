/**
 * The command line in tests: client commands run in-process as `microgrid` runs them, and
 * `microgrid start` as a child process whose output lines a test can wait for.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { main, reportError } from '../src/cli.ts'

const cliPath = fileURLToPath(new URL('../src/cli.ts', import.meta.url))

export interface Outcome { code: number, out: string, err: string }

/** A client command, in-process as the command line runs it. */
export async function cli (args: string[]): Promise<Outcome> {
  const { code, out, err } = await cliRunning(args)
  return { code, out, err }
}

/** `microgrid start` (or any command) in-process: its outcome and the running node to stop. */
export async function cliRunning (args: string[]): Promise<Outcome & { stop: () => Promise<void> }> {
  const out: string[] = []
  const err: string[] = []
  try {
    const running = await main(args, l => out.push(l), { err: l => err.push(l), errRaw: t => err.push(t), errIsTTY: false })
    return { code: 0, out: out.join('\n'), err: err.join('\n'), stop: async () => { await running?.stop() } }
  } catch (e) {
    return { code: reportError(e, args, l => err.push(l)), out: out.join('\n'), err: err.join('\n'), stop: async () => {} }
  }
}

/** A client command's JSON document (it must succeed). */
export async function json<T = Record<string, unknown>> (args: string[]): Promise<T> {
  const r = await cli([...args, '--json'])
  if (r.code !== 0) throw new Error(`${args.join(' ')}: exit ${r.code}: ${r.err}`)
  return JSON.parse(r.out) as T
}

export interface NodeProcess {
  proc: ChildProcessWithoutNullStreams
  out: string[]
  err: string[]
  exited: Promise<number | null>
  /** Resolves with the first line of a stream matching `re`. */
  line: (stream: 'out' | 'err', re: RegExp, ms?: number) => Promise<string>
}

export function startNode (data: string, extra: string[], passphrase: string, env: Record<string, string> = {}): NodeProcess {
  const proc = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', cliPath, 'start', '--data', data, ...extra], {
    env: { ...process.env, MICROGRID_PASSPHRASE: passphrase, ...env }, stdio: ['pipe', 'pipe', 'pipe']
  })
  const out: string[] = []
  const err: string[] = []
  const waiters: Array<{ stream: 'out' | 'err', re: RegExp, resolve: (l: string) => void }> = []
  const feed = (stream: 'out' | 'err', list: string[]) => (l: string): void => {
    list.push(l)
    for (const w of waiters.filter(x => x.stream === stream && x.re.test(l))) { waiters.splice(waiters.indexOf(w), 1); w.resolve(l) }
  }
  createInterface({ input: proc.stdout }).on('line', feed('out', out))
  createInterface({ input: proc.stderr }).on('line', feed('err', err))
  const exited = new Promise<number | null>(resolve => proc.on('exit', code => resolve(code)))
  return {
    proc, out, err, exited,
    line: async (stream, re, ms = 60_000) => {
      const seen = (stream === 'out' ? out : err).find(l => re.test(l))
      if (seen !== undefined) return seen
      return await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${re} on std${stream} within ${ms} ms; stdout: ${out.join('\n')}\nstderr: ${err.join('\n')}`)), ms)
        waiters.push({ stream, re, resolve: l => { clearTimeout(timer); resolve(l) } })
        void exited.then(code => { clearTimeout(timer); reject(new Error(`the node exited (${code}) before ${re}; stderr: ${err.join('\n')}`)) })
      })
    }
  }
}

export async function until<T> (what: string, get: () => Promise<T>, ok: (v: T) => boolean, ms = 30_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await get()
    if (ok(v)) return v
    if (Date.now() > end) throw new Error(`${what}: still ${JSON.stringify(v).slice(0, 300)} after ${ms} ms`)
    await new Promise(resolve => setTimeout(resolve, 200))
  }
}
