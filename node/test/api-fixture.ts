/**
 * A node with an island's history behind the HTTP API, for the api*.spec.ts tests: a real
 * MicrogridNode on 127.0.0.1 (mDNS off), the island's ops submitted with `node.submit`, the API
 * built over it with the island's keys as the node's signers and the island's clock.
 */
import { request as httpRequest } from 'node:http'
import { PROTOCOL_VERSION, accountId, signOp, type BodyOf, type OpKind, type OpSigner, type UnsignedOp } from '@microgrid/protocol'
import type { IngestResult } from '@microgrid/core'
import { Island } from '@microgrid/core/testing'
import type { OpenAPIHono } from '@hono/zod-openapi'
import { MicrogridNode } from '../src/node.ts'
import { createApi, type ApiComponents, type ApiOptions } from '../src/api/index.ts'

export const TOKEN = 'test-token-0123456789abcdef'
export const auth = { Authorization: `Bearer ${TOKEN}` }

export interface Fixture {
  isl: Island
  node: MicrogridNode
  app: OpenAPIHono
  signers: Map<string, OpSigner>
  get: (path: string, headers?: Record<string, string>) => Promise<Response>
  post: (path: string, body: unknown, headers?: Record<string, string>) => Promise<Response>
  id: (s: OpSigner) => string
  stop: () => Promise<void>
}

export interface FixtureOptions {
  seed?: string
  /** More components (payments, settlement), or a function making them once the node runs. */
  components?: Partial<ApiComponents> | ((node: MicrogridNode, isl: Island, signers: Map<string, OpSigner>) => Partial<ApiComponents>)
  api?: ApiOptions
}

export async function startFixture (options: FixtureOptions = {}): Promise<Fixture> {
  const isl = new Island({ seed: options.seed ?? 'api', producers: 1, households: 2, streetLights: 1, residents: 3 })
  const p = isl.producers[0]!
  const [r0, r1] = isl.residents as [OpSigner, OpSigner]
  for (let i = 0; i < 4; i++) isl.mint(p, 5_000)
  const must = (r: { status: string }, what: string): void => { if (r.status !== 'applied') throw new Error(`${what}: ${JSON.stringify(r)}`) }
  must(isl.sellWholesale(p, 80), 'wholesale') // 10,000 Wh to the utility
  must(isl.sellRetail(r0, 50), 'retail') // 4,000 Wh to resident 0
  must(isl.fund(r0, isl.devices[0]!, 1_000), 'fund')
  must(isl.burn(isl.devices[0]!, 300), 'burn')
  isl.pay(r1.publicKey, isl.utility.publicKey, 'retail-seller', 25, 'pi_unsettled') // a receipt nobody settled
  const node = await MicrogridNode.start({ genesis: isl.genesis, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false })
  for (const op of isl.ops) {
    const r = await node.submit(op)
    if (r.status !== 'applied') throw new Error(`island op not applied: ${r.status}`)
  }
  const signers = new Map<string, OpSigner>([
    ['resident', r0], ['registrar', isl.registrar], ['utility', isl.utility], ['producer', p.account], ['oracle', isl.oracle]
  ])
  const more = typeof options.components === 'function' ? options.components(node, isl, signers) : options.components
  const app = createApi({ node, token: TOKEN, signers, clock: isl.clock, ...more }, options.api)
  const get = async (path: string, headers: Record<string, string> = {}): Promise<Response> => await app.request(path, { headers: { ...auth, ...headers } })
  const post = async (path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> => await app.request(path, {
    method: 'POST',
    headers: { ...auth, 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body)
  })
  return { isl, node, app, signers, get, post, id: s => accountId(s.publicKey), stop: async () => { await node.stop() } }
}

/** Signs an op by hand at a chosen position (forks, forged ops): not through any replica. */
export function signAt<K extends OpKind> (isl: Island, signer: OpSigner, kind: K, body: BodyOf[K], seq: number, prev: Uint8Array | null, ts: number): { bytes: Uint8Array, id: Uint8Array } {
  const { bytes, id } = signOp({ v: PROTOCOL_VERSION, grid: isl.state.gridId, kind, author: signer.publicKey, seq, prev, deps: [], ts, body } as UnsignedOp, signer)
  return { bytes, id }
}

export async function json<T = any> (res: Response): Promise<T> {
  return await res.json() as T
}

/** A raw HTTP request over a socket, with any Host header (fetch sets its own). */
export async function rawRequest (url: string, init: { method?: string, headers?: Record<string, string>, body?: string } = {}): Promise<{ status: number, headers: Record<string, string | string[] | undefined>, body: string }> {
  const u = new URL(url)
  return await new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: init.method ?? 'GET', headers: init.headers, setHost: !Object.keys(init.headers ?? {}).some(h => h.toLowerCase() === 'host') }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
    if (init.body !== undefined) req.write(init.body)
    req.end()
  })
}

export type { IngestResult }
