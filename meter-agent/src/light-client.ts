/**
 * The meter's side of the light protocol: a small libp2p peer (TCP, noise, yamux; no gossip, no DHT,
 * no discovery) that dials the full nodes it is configured with and asks them one request per stream.
 * Nodes are tried in the order configured; the last one that answered is tried first next time.
 */
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { lpStream } from '@libp2p/utils'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import {
  decodeLightResponse, encodeLight, LIGHT_LIMITS, LIGHT_PROTOCOL,
  type LightRequest, type LightResponse
} from '@microgrid/protocol'

/** What the agent needs of its nodes; tests give it another. */
export interface LightTransport {
  /** Asks a node; `timeoutMs` bounds the wait (a `watch` is answered only when funds change). */
  request: (request: LightRequest, timeoutMs?: number) => Promise<LightResponse>
  stop: () => Promise<void>
}

/** No configured node answered. */
export class NodeUnreachableError extends Error {
  override readonly name = 'NodeUnreachableError'
}

export class LightClient implements LightTransport {
  readonly libp2p: Libp2p
  readonly #nodes: Multiaddr[]
  #preferred = 0

  private constructor (libp2p: Libp2p, nodes: Multiaddr[]) {
    this.libp2p = libp2p
    this.#nodes = nodes
  }

  static async start (nodes: readonly string[]): Promise<LightClient> {
    const addrs = nodes.map(n => multiaddr(n))
    const libp2p = await createLibp2p({
      // A light peer only dials out: no listening address, no services beyond the connection itself.
      addresses: { listen: [] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionManager: { maxConnections: 8 }
    })
    await libp2p.start()
    return new LightClient(libp2p, addrs)
  }

  async request (request: LightRequest, timeoutMs = 10_000): Promise<LightResponse> {
    const errors: string[] = []
    for (let i = 0; i < this.#nodes.length; i++) {
      const at = (this.#preferred + i) % this.#nodes.length
      const addr = this.#nodes[at] as Multiaddr
      try {
        const response = await this.#ask(addr, request, timeoutMs)
        this.#preferred = at
        return response
      } catch (err) {
        errors.push(`${addr.toString()}: ${(err as Error).message}`)
      }
    }
    throw new NodeUnreachableError(`no node answered (${errors.join('; ')})`)
  }

  async #ask (addr: Multiaddr, request: LightRequest, timeoutMs: number): Promise<LightResponse> {
    const signal = AbortSignal.timeout(timeoutMs)
    const stream = await this.libp2p.dialProtocol(addr, LIGHT_PROTOCOL, { signal })
    const lp = lpStream(stream, { maxDataLength: LIGHT_LIMITS.maxMessageBytes })
    try {
      await lp.write(encodeLight(request), { signal })
      const response = decodeLightResponse((await lp.read({ signal })).subarray())
      await stream.close().catch(() => {})
      if (response.t === 'error') throw new Error(`the node refused: ${response.message}`)
      return response
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  async stop (): Promise<void> {
    await this.libp2p.stop()
  }
}
