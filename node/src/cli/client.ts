/**
 * The client commands' way to the running node: its HTTP API (docs/API.md), at the URL the running
 * node recorded in run.json (or the config's host and port), with the config's token.
 */
import { CliError, NotRunningError, type Context } from './common.ts'
import { readConfig, readRun, type NodeConfig } from './datadir.ts'

/** The API refused a request: exit code 1, the API's code and message, and its HTTP status. */
export class ApiRequestError extends CliError {
  override readonly name = 'ApiRequestError'
  readonly status: number
  readonly body: unknown

  constructor (status: number, code: string, message: string, body: unknown) {
    const extra: Record<string, unknown> = { status }
    if (typeof body === 'object' && body !== null) for (const [k, v] of Object.entries(body)) if (k !== 'error') extra[k] = v
    super(message, { code, extra })
    this.status = status
    this.body = body
  }
}

export interface Api {
  /** The API's base URL (`http://127.0.0.1:4100`). */
  url: string
  config: NodeConfig
  get: <T = unknown>(path: string, query?: Record<string, string | number | undefined>) => Promise<T>
  post: <T = unknown>(path: string, body: unknown) => Promise<T>
}

const TIMEOUT_MS = 30_000

/** A client for the node running on the context's data directory. */
export async function connect (ctx: Context): Promise<Api> {
  const config = await readConfig(ctx.dataDir)
  const run = await readRun(ctx.dataDir)
  let url: string
  if (run !== undefined) {
    url = run.url
  } else {
    if (config.api.port === 0) {
      throw new NotRunningError(`the node of ${ctx.dataDir} is not running (start it with \`microgrid start --data ${ctx.dataDir}\`)`)
    }
    const host = config.api.host === '0.0.0.0' || config.api.host === '::' ? '127.0.0.1' : config.api.host
    url = `http://${host.includes(':') ? `[${host}]` : host}:${config.api.port}`
  }
  const request = async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
    let res: Response
    try {
      res = await fetch(`${url}/api/v1${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${config.api.token}`,
          Accept: 'application/json',
          ...(body !== undefined ? { 'Content-Type': 'application/json' } : {})
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(TIMEOUT_MS)
      })
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } }
      if (e.name === 'TimeoutError') throw new NotRunningError(`the node at ${url} did not answer within ${TIMEOUT_MS / 1000} s`, err)
      const why = e.cause?.code ?? e.message
      throw new NotRunningError(`no node answers at ${url} (${why}): is it running? (\`microgrid start --data ${ctx.dataDir}\`)`, err)
    }
    const text = await res.text()
    let json: unknown
    try {
      json = text === '' ? null : JSON.parse(text)
    } catch {
      throw new CliError(`${method} ${path}: the node answered ${res.status} with something that is not JSON`, { code: 'bad-response' })
    }
    if (res.status >= 200 && res.status < 300) return json as T
    const error = (json as { error?: { code?: unknown, message?: unknown } } | null)?.error
    const code = typeof error?.code === 'string' ? error.code : `http-${res.status}`
    let message = typeof error?.message === 'string' ? error.message : `${method} ${path}: HTTP ${res.status}`
    if (res.status === 401) message = `the node at ${url} refused the token in ${ctx.dataDir}/config.json (${message})`
    throw new ApiRequestError(res.status, code, message, json)
  }
  return {
    url,
    config,
    get: async <T>(path: string, query: Record<string, string | number | undefined> = {}) => {
      const q = new URLSearchParams()
      for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, String(v))
      const qs = q.toString()
      return await request<T>('GET', qs === '' ? path : `${path}?${qs}`)
    },
    post: async <T>(path: string, body: unknown) => await request<T>('POST', path, body)
  }
}
