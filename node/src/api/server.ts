/**
 * Serving the API over HTTP (@hono/node-server). Loopback by default; `lan: true` binds every
 * interface so residents' phones on the LAN can reach it with the same token. The Host header must
 * name the address served: `serveApi` adds the bound address and `localhost` with the port (in LAN
 * mode every address of the machine, and its host name) to the app's allowed hosts.
 */
import { networkInterfaces, hostname as osHostname } from 'node:os'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { createAdaptorServer } from '@hono/node-server'
import type { OpenAPIHono } from '@hono/zod-openapi'
import { closeApi, runtimeOf } from './app.ts'

export interface ServeOptions {
  /** Address to bind; default 127.0.0.1 (0.0.0.0 with `lan`). */
  host?: string
  /** Port; 0 (the default) picks a free one. */
  port?: number
  /** Bind every interface and answer to the machine's LAN addresses too (same token). */
  lan?: boolean
}

export interface ServedApi {
  /** The base URL to use on this machine, e.g. `http://127.0.0.1:4321` (routes are under /api/v1). */
  url: string
  port: number
  /** In LAN mode, the base URLs for other devices on the LAN (for a QR code); else []. */
  lanUrls: string[]
  /** Ends the event streams, stops listening and closes every connection. */
  close: () => Promise<void>
}

const hostPort = (host: string, port: number): string => `${host.includes(':') ? `[${host}]` : host}:${port}`

export async function serveApi (app: OpenAPIHono, options: ServeOptions = {}): Promise<ServedApi> {
  const runtime = runtimeOf(app)
  const lan = options.lan === true
  const bind = options.host ?? (lan ? '0.0.0.0' : '127.0.0.1')
  const server = createAdaptorServer({ fetch: app.fetch, overrideGlobalObjects: false }) as Server
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, bind, () => { server.off('error', reject); resolve() })
  })
  const port = (server.address() as AddressInfo).port
  const hosts = runtime.ctx.hosts
  const wildcard = bind === '0.0.0.0' || bind === '::'
  const local = ['127.0.0.1', 'localhost', ...(bind === '::' || bind === '::1' ? ['::1'] : [])]
  const lanAddresses: string[] = []
  if (wildcard) {
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) {
        if (a.family === 'IPv6' && bind !== '::') continue
        if (a.internal) local.push(a.address)
        else lanAddresses.push(a.address.split('%')[0] as string)
      }
    }
    const name = osHostname().toLowerCase()
    if (name !== '') lanAddresses.push(name, name.endsWith('.local') ? name : `${name}.local`)
  } else {
    local.push(bind)
  }
  const added = [...new Set([...local, ...lanAddresses])].map(h => hostPort(h, port).toLowerCase())
  for (const h of added) hosts.add(h)
  const urlHost = wildcard || bind === '127.0.0.1' ? '127.0.0.1' : bind
  let closed: Promise<void> | undefined
  return {
    url: `http://${hostPort(urlHost, port)}`,
    port,
    lanUrls: lan ? lanAddresses.filter(a => /^[\d.]+$/.test(a) || a.includes(':')).map(a => `http://${hostPort(a, port)}`) : [],
    close: async () => {
      closed ??= (async () => {
        closeApi(app)
        for (const h of added) hosts.delete(h)
        await new Promise<void>(resolve => {
          const force = setTimeout(() => server.closeAllConnections(), 1_000)
          force.unref()
          server.close(() => { clearTimeout(force); resolve() })
          server.closeIdleConnections()
        })
      })()
      await closed
    }
  }
}
