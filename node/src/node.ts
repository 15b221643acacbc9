/**
 * MicrogridNode: one household's full node. A Ledger in SQLite, a libp2p host that gossips signed ops
 * on the grid's topic and answers pulls, and the timers that keep it converging: pull from each peer
 * on connect, from a random peer periodically, and from whoever sent an op whose past is missing.
 * The CLI, the desktop app and the tests all run this same class.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { mdns } from '@libp2p/mdns'
import { bootstrap } from '@libp2p/bootstrap'
import { gossipsub, TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub'
import type { Multiaddr } from '@multiformats/multiaddr'
import { sha256 } from '@noble/hashes/sha2.js'
import type { PeerId, PrivateKey, Stream, Connection } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import {
  bytesEqual, decodeOp, fromHex, gridIdText, LIGHT_PROTOCOL, toHex, OpDecodeError,
  type BodyOf, type MeterReport, type DecodedOp, type OpKind, type OpSigner, type SignatureVerifier
} from '@microgrid/protocol'
import {
  CachingVerifier, Ledger, MemoryStorage, VerifierPool, createOp, defaultVerifier, opKey, systemClock,
  type BatchVerifier, type Clock, type IngestResult, type StorageAdapter
} from '@microgrid/core'
import { loadOrCreatePeerKey } from './identity.ts'
import { readAhead } from './read-ahead.ts'
import { lightServer } from './light-server.ts'
import { SqliteStorage } from './sqlite-storage.ts'
import { InviteError, inviteUri, parseInvite } from './invite.ts'
import {
  HEAD_ID_BYTES, SYNC_LIMITS, SYNC_PROTOCOL, SyncProtocolError, decodePullRequest, decodeServerMessage, encodeMessage, isProtocolViolation,
  type PullRequest, type ServerMessage
} from './sync-messages.ts'

/**
 * Sync batches a pull keeps handed to the ledger at once when a verifier pool checks signatures. With
 * the pool on two cores (bench/ledger.bench.ts, docs/PERFORMANCE.md) ingest measured, as a share of
 * one core's raw verify: one batch 95%, two 118%, four 123%. Without a pool there is nothing to overlap
 * and the ledger would apply queued batches back to back without letting the event loop run (the
 * connection's keep-alive waited behind them): one batch at a time, the next read meanwhile.
 */
const SYNC_IN_FLIGHT = 4

/**
 * The most a peer may send on one stream before this node has read it. yamux grows a stream's window
 * up to 16 MiB by default; a catch-up sync then keeps megabytes queued ahead of everything else on
 * the connection, and libp2p's keep-alive ping (aborted after 5 s) waited behind them: measured 4.5–7.5 s
 * during a 100,000-op sync, and the connection was dropped mid-sync. At 1 MiB the ping stays well
 * under a second (docs/PERFORMANCE.md), and a sync is still far faster than the ledger applies it.
 */
const STREAM_WINDOW = 1024 * 1024

/** What a pull may have received and not yet read (see read-ahead.ts): above the largest sync message. */
const SYNC_READ_AHEAD = SYNC_LIMITS.maxMessageBytes + 16
/**
 * libp2p's byte stream aborts past its buffer size (4 MiB by default, the largest sync message): it
 * holds the read-ahead plus what was in flight when the pause went out (one stream window).
 */
const SYNC_READ_BUFFER = SYNC_READ_AHEAD + 2 * STREAM_WINDOW

export interface MicrogridNodeInit {
  /** The grid's genesis op; needed the first time a data directory is used. */
  genesis?: Uint8Array
  /** Where the ledger (SQLite) and the peer key live. Without it: memory only, a new peer id each start. */
  dataDir?: string
  /** Storage to use instead of the data directory's SQLite file. */
  storage?: StorageAdapter
  privateKey?: PrivateKey
  /** Multiaddrs to listen on; default TCP on every interface, a free port. */
  listen?: string[]
  /** Multiaddrs (with /p2p/<peer id>) to dial at start and keep in touch with. */
  bootstrap?: string[]
  /** Find peers on the LAN with mDNS (an island with no internet); default true. */
  mdns?: boolean
  maxConnections?: number
  /** Pull from a random peer this often; default 10 s. */
  syncIntervalMs?: number
  verifier?: SignatureVerifier
  /**
   * Worker threads that check signatures while the main thread applies the rules (a `VerifierPool`):
   * a node catching up on a long history ingests faster with them. Default 0: checked inline.
   */
  verifyThreads?: number
  clock?: Clock
  /** Invalid messages from a peer before it is disconnected and refused for `banMs`; default 20. */
  badPeerThreshold?: number
  banMs?: number
  /** Ops per second accepted from one peer over gossip before the rest are ignored; default 5,000. */
  maxOpsPerSecondPerPeer?: number
  /** Bound on ops waiting for their causal past. */
  maxPending?: number
  /**
   * Offer circuit relay to other nodes (a node others can reach, e.g. the utility's): they reserve a
   * slot and use it to signal WebRTC connections to each other.
   */
  relay?: boolean
  /** Dial and accept WebRTC connections, signalled through a relay this node has a reservation on. */
  webrtc?: boolean
  /** A policy on who may connect (both directions): a private grid's allowlist, or a test's partition. */
  allowPeer?: (peer: string) => boolean
}

export interface NodeEvents {
  /** Every op the ledger decided or set aside, local or remote. */
  op: IngestResult
  /** A peer sent invalid data; `banned` once it crossed the threshold. */
  'peer:bad': { peer: string, reason: string, banned: boolean }
  /** A pull from a peer finished. */
  'sync:done': { peer: string, received: number }
  /** A meter agent (a light peer) reported its relay, warnings and estimates. */
  'meter:report': { device: string, report: MeterReport, peer: string }
}

type Listener<K extends keyof NodeEvents> = (event: NodeEvents[K]) => void

/** The gossip topic of a grid. */
export function gridTopic (gridId: Uint8Array): string {
  return `/microgrid/1/${gridIdText(gridId)}/ops`
}

interface QueuedOp {
  op: DecodedOp
  from?: string
}

export class MicrogridNode {
  readonly ledger: Ledger
  readonly libp2p: Libp2p<{ pubsub: GossipSub, identify: unknown, ping: unknown }>
  readonly topic: string
  readonly #verifier: CachingVerifier
  readonly #pool: BatchVerifier | undefined
  readonly #clock: Clock
  readonly #syncIntervalMs: number
  readonly #badThreshold: number
  readonly #banMs: number
  readonly #maxRate: number
  readonly #bad = new Map<string, { count: number, since: number }>()
  readonly #banned = new Map<string, number>()
  readonly #rate = new Map<string, { second: number, count: number }>()
  readonly #pulling = new Map<string, Promise<number>>()
  /** The decided count the pulls under way lead to, from what their servers said was left. */
  #syncTarget: number | undefined
  readonly #listeners: { [K in keyof NodeEvents]?: Array<Listener<K>> } = {}
  /** The latest report of each meter agent that uses this node (by device key, hex). */
  readonly meterReports = new Map<string, { report: MeterReport, peer: string }>()
  /** The last sign in progress per key (hex): signs of one key run one after another. */
  readonly #signing = new Map<string, Promise<void>>()
  #queue: QueuedOp[] = []
  #flushing: Promise<void> | undefined
  #timer: NodeJS.Timeout | undefined
  #stopped = false

  private constructor (ledger: Ledger, libp2p: MicrogridNode['libp2p'], verifier: CachingVerifier, init: MicrogridNodeInit, pool: BatchVerifier | undefined) {
    this.ledger = ledger
    this.#pool = pool
    this.libp2p = libp2p
    this.topic = gridTopic(ledger.gridId)
    this.#verifier = verifier
    this.#clock = init.clock ?? systemClock
    this.#syncIntervalMs = init.syncIntervalMs ?? 10_000
    this.#badThreshold = init.badPeerThreshold ?? 20
    this.#banMs = init.banMs ?? 10 * 60_000
    this.#maxRate = init.maxOpsPerSecondPerPeer ?? 5_000
  }

  static async start (init: MicrogridNodeInit): Promise<MicrogridNode> {
    const verifier = new CachingVerifier(init.verifier ?? defaultVerifier(), 200_000)
    let storage = init.storage
    if (storage === undefined && init.dataDir !== undefined) {
      await mkdir(init.dataDir, { recursive: true })
      storage = SqliteStorage.open(join(init.dataDir, 'ledger.sqlite'))
    }
    const threads = init.verifyThreads ?? 0
    if (!Number.isSafeInteger(threads) || threads < 0) throw new RangeError(`verifyThreads: expected a whole number ≥ 0, got ${String(threads)}`)
    const pool = threads > 0 ? await VerifierPool.start({ workers: threads }) : undefined
    const ledger = await Ledger.open({ genesis: init.genesis, storage: storage ?? new MemoryStorage(), verifier, batchVerifier: pool, maxPending: init.maxPending })
    const privateKey = init.privateKey ?? (init.dataDir !== undefined ? await loadOrCreatePeerKey(join(init.dataDir, 'peer.key')) : undefined)
    const topic = gridTopic(ledger.gridId)
    // WebRTC and relaying load native code and ~35 MB: only for nodes that use them.
    const relaying = init.webrtc === true || init.relay === true ? await import('@libp2p/circuit-relay-v2') : undefined
    const webrtc = init.webrtc === true ? await import('@libp2p/webrtc') : undefined
    let node: MicrogridNode | undefined
    const denied = (peer: PeerId): boolean => (node?.isBanned(peer.toString()) ?? false) || init.allowPeer?.(peer.toString()) === false
    const libp2p = await createLibp2p({
      ...(privateKey !== undefined ? { privateKey } : {}),
      addresses: { listen: [...(init.listen ?? ['/ip4/0.0.0.0/tcp/0']), ...(init.webrtc === true ? ['/p2p-circuit', '/webrtc'] : [])] },
      transports: [
        tcp(), webSockets(),
        ...(relaying !== undefined ? [relaying.circuitRelayTransport()] : []),
        ...(webrtc !== undefined ? [webrtc.webRTC()] : [])
      ],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: STREAM_WINDOW } })],
      connectionManager: { maxConnections: init.maxConnections ?? 64 },
      connectionGater: {
        denyDialMultiaddr: async () => false, // island LANs live on private addresses
        denyDialPeer: async (peer: PeerId) => denied(peer),
        denyInboundEncryptedConnection: async (peer: PeerId) => denied(peer)
      },
      peerDiscovery: [
        ...(init.mdns ?? true ? [mdns()] : []),
        ...((init.bootstrap ?? []).length > 0 ? [bootstrap({ list: init.bootstrap ?? [] })] : [])
      ],
      services: {
        identify: identify(),
        ping: ping(),
        ...(init.relay === true && relaying !== undefined ? { relay: relaying.circuitRelayServer() } : {}),
        pubsub: gossipsub({
          globalSignaturePolicy: 'StrictNoSign', // every op carries its own signature
          allowPublishToZeroTopicPeers: true, // an island alone keeps trading
          emitSelf: false,
          msgIdFn: (msg: Message) => sha256(msg.data),
          // A frame batches many messages (an IWANT answer); the 4 KiB limit per op is the validator's.
          maxInboundDataLength: 1024 * 1024,
          allowedTopics: [topic],
          scoreParams: {
            // Households behind one NAT (or one village uplink) share an address: not a sign of Sybils.
            IPColocationFactorWeight: 0,
            topics: {
              [topic]: {
                topicWeight: 1,
                timeInMeshWeight: 0.01, timeInMeshQuantum: 1_000, timeInMeshCap: 10,
                firstMessageDeliveriesWeight: 1, firstMessageDeliveriesDecay: 0.9, firstMessageDeliveriesCap: 100,
                meshMessageDeliveriesWeight: 0, meshMessageDeliveriesDecay: 0.9, meshMessageDeliveriesCap: 10,
                meshMessageDeliveriesThreshold: 1, meshMessageDeliveriesWindow: 100, meshMessageDeliveriesActivation: 5_000,
                meshFailurePenaltyWeight: 0, meshFailurePenaltyDecay: 0.9,
                invalidMessageDeliveriesWeight: -100, invalidMessageDeliveriesDecay: 0.99
              }
            }
          }
        })
      }
    })
    node = new MicrogridNode(ledger, libp2p as MicrogridNode['libp2p'], verifier, init, pool)
    await node.#wire()
    return node
  }

  get peerId (): string {
    return this.libp2p.peerId.toString()
  }

  get multiaddrs (): Multiaddr[] {
    return this.libp2p.getMultiaddrs()
  }

  stateHash (): string {
    return this.ledger.stateHash()
  }

  on<K extends keyof NodeEvents> (event: K, listener: Listener<K>): () => void {
    const list = (this.#listeners[event] ??= []) as Array<Listener<K>>
    list.push(listener)
    return () => { list.splice(list.indexOf(listener), 1) }
  }

  #emit<K extends keyof NodeEvents> (event: K, payload: NodeEvents[K]): void {
    for (const l of (this.#listeners[event] ?? []) as Array<Listener<K>>) l(payload)
  }

  isBanned (peer: string): boolean {
    const until = this.#banned.get(peer)
    if (until === undefined) return false
    if (until > this.#clock.now()) return true
    this.#banned.delete(peer)
    return false
  }

  async #wire (): Promise<void> {
    const pubsub = this.libp2p.services.pubsub
    pubsub.topicValidators.set(this.topic, (peer, msg) => this.#validate(peer.toString(), msg))
    pubsub.subscribe(this.topic)
    await this.libp2p.handle(SYNC_PROTOCOL, async (stream: Stream, connection: Connection) => {
      await this.#serve(stream, connection).catch(err => {
        // A dropped connection is not misbehaviour; a broken protocol is.
        if (isProtocolViolation(err)) this.#reportBad(connection.remotePeer.toString(), `sync: ${(err as Error).message}`)
        stream.abort(err as Error)
      })
    }, { maxInboundStreams: 4, maxOutboundStreams: 4 })
    await this.libp2p.handle(LIGHT_PROTOCOL, lightServer({
      ledger: this.ledger,
      submit: async bytes => await this.submit(bytes),
      clock: this.#clock,
      onReport: (device, report, peer) => {
        const hex = toHex(device)
        this.meterReports.set(hex, { report, peer })
        this.#emit('meter:report', { device: hex, report, peer })
      },
      onViolation: (peer, reason) => this.#reportBad(peer, reason)
    }), { maxInboundStreams: 8, maxOutboundStreams: 1 })
    this.libp2p.addEventListener('peer:connect', evt => {
      const peer = evt.detail.toString()
      // Let identify finish first so the peer's protocols are known.
      setTimeout(() => { void this.pull(peer).catch(() => {}) }, 200).unref()
    })
    // Neighbours found on the LAN (mDNS) are dialed: libp2p only records them.
    this.libp2p.addEventListener('peer:discovery', evt => {
      const peer = evt.detail.id
      if (this.#stopped || this.isBanned(peer.toString()) || this.libp2p.getConnections(peer).length > 0) return
      void this.libp2p.dial(peer).catch(() => {})
    })
    this.ledger.onOp(result => this.#emit('op', result))
    this.#timer = setInterval(() => {
      const peers = this.libp2p.getPeers()
      const peer = peers[Math.floor(Math.random() * peers.length)]
      if (peer !== undefined) void this.pull(peer.toString()).catch(() => {})
    }, this.#syncIntervalMs)
    this.#timer.unref()
  }

  /** Gossip validator: only well-formed, well-signed ops of this grid travel on. */
  async #validate (peer: string, msg: Message): Promise<TopicValidatorResult> {
    if (this.#stopped) return TopicValidatorResult.Ignore
    const now = Math.floor(this.#clock.now() / 1000)
    const rate = this.#rate.get(peer)
    if (rate === undefined || rate.second !== now) this.#rate.set(peer, { second: now, count: 1 })
    else if (++rate.count > this.#maxRate) return TopicValidatorResult.Ignore
    let decoded
    try {
      decoded = decodeOp(msg.data)
    } catch (err) {
      this.#reportBad(peer, err instanceof OpDecodeError ? err.message : 'undecodable op')
      return TopicValidatorResult.Reject
    }
    if (decoded.op.kind === 'genesis' || decoded.op.grid === null || toHex(decoded.op.grid) !== toHex(this.ledger.gridId)) {
      this.#reportBad(peer, 'op of another grid')
      return TopicValidatorResult.Reject
    }
    if (this.ledger.state.statusOf(decoded.op.author, decoded.op.seq, decoded.id) !== 'unknown') return TopicValidatorResult.Ignore
    if (!this.#verifier.verify(decoded.op.sig, decoded.id, decoded.op.author)) {
      this.#reportBad(peer, 'bad signature')
      return TopicValidatorResult.Reject
    }
    this.#enqueue({ op: decoded, from: peer })
    return TopicValidatorResult.Accept
  }

  #reportBad (peer: string, reason: string): void {
    const now = this.#clock.now()
    const previous = this.#bad.get(peer)
    // Counts fade: a peer is banned for many invalid messages within one ban period, not over a lifetime.
    const entry = previous === undefined || now - previous.since > this.#banMs ? { count: 0, since: now } : previous
    const count = ++entry.count
    this.#bad.set(peer, entry)
    const banned = count >= this.#badThreshold && !this.isBanned(peer)
    if (banned) {
      this.#banned.set(peer, this.#clock.now() + this.#banMs)
      this.#bad.delete(peer)
      const connected = this.libp2p.getPeers().find(p => p.toString() === peer)
      if (connected !== undefined) void this.libp2p.hangUp(connected).catch(() => {})
    }
    this.#emit('peer:bad', { peer, reason, banned })
  }

  /** How many invalid messages a peer has sent since its last ban. */
  badCount (peer: string): number {
    return this.#bad.get(peer)?.count ?? 0
  }

  #enqueue (op: QueuedOp): void {
    this.#queue.push(op)
    this.#flushing ??= new Promise<void>(resolve => setImmediate(resolve)).then(async () => await this.#flush())
  }

  async #flush (): Promise<void> {
    while (this.#queue.length > 0 && !this.#stopped) {
      const batch = this.#queue.splice(0, 512)
      const results = await this.ledger.applyBatch(batch.map(q => q.op))
      const fetchFrom = new Set<string>()
      results.forEach((r, i) => {
        const from = batch[i]?.from
        if (from === undefined) return
        if (r.status === 'pending' || r.status === 'dropped') fetchFrom.add(from)
        if (r.status === 'invalid') this.#reportBad(from, r.error.message)
      })
      for (const peer of fetchFrom) void this.pull(peer).catch(() => {})
    }
    this.#flushing = undefined
  }

  /** Applies a locally signed op (durable when this resolves), then publishes it. */
  async submit (bytes: Uint8Array): Promise<IngestResult> {
    const result = await this.ledger.apply(bytes)
    if (result.status === 'applied' || result.status === 'rejected' || result.status === 'pending') {
      await this.libp2p.services.pubsub.publish(this.topic, bytes).catch(() => {})
    }
    return result
  }

  /**
   * Signs the next op of `signer` from this node's view of the ledger and submits it. One op at a time
   * per key: two signs drafted at once would take the same position — a fork of the node's own key.
   */
  async sign<K extends OpKind> (signer: OpSigner, kind: K, body: BodyOf[K]): Promise<IngestResult & { bytes: Uint8Array }> {
    const hex = toHex(signer.publicKey)
    const previous = this.#signing.get(hex) ?? Promise.resolve()
    const run = previous.then(async () => {
      const { bytes } = createOp(this.ledger.state, signer, kind, body, this.#clock)
      return { ...(await this.submit(bytes)), bytes }
    })
    const settled = run.then(() => {}, () => {})
    this.#signing.set(hex, settled)
    void settled.then(() => { if (this.#signing.get(hex) === settled) this.#signing.delete(hex) })
    return await run
  }

  /** Dials a peer by multiaddr (with /p2p/<id>) or by the text of a QR invite; resolves to its peer id. */
  async connect (address: string | Multiaddr): Promise<string> {
    const invite = typeof address === 'string' ? parseInvite(address) : { addrs: [address] }
    if (invite.grid !== undefined && toHex(invite.grid) !== toHex(this.ledger.gridId)) {
      throw new InviteError(`invite: the peer serves grid ${gridIdText(invite.grid)}, this node ${gridIdText(this.ledger.gridId)}`)
    }
    const conn = await this.libp2p.dial(invite.addrs)
    return conn.remotePeer.toString()
  }

  /** The QR invite text for this node's addresses. */
  invite (): string {
    return inviteUri(this.ledger.gridId, this.multiaddrs)
  }

  /**
   * The decided count this node is syncing towards, as its peers told it when they began serving its
   * pulls; undefined when no peer has said so or the node has reached it.
   */
  syncTarget (): number | undefined {
    if (this.#syncTarget !== undefined && this.ledger.state.decidedCount >= this.#syncTarget) this.#syncTarget = undefined
    return this.#syncTarget
  }

  /**
   * Pulls what `peer` holds and this node lacks, in causal order, applying it batch by batch (the
   * stream's flow control is the backpressure). Resolves to the number of ops received.
   */
  async pull (peer: string): Promise<number> {
    const running = this.#pulling.get(peer)
    if (running !== undefined) return await running
    const run = this.#pullOnce(peer).finally(() => this.#pulling.delete(peer))
    this.#pulling.set(peer, run)
    return await run
  }

  async #pullOnce (peer: string): Promise<number> {
    let received = 0
    for (let round = 0; round < 100 && !this.#stopped; round++) {
      const { count, more } = await this.#pullRound(peer)
      received += count
      if (!more) break
    }
    this.#emit('sync:done', { peer, received })
    return received
  }

  async #pullRound (peer: string): Promise<{ count: number, more: boolean }> {
    const state = this.ledger.state
    const decidedAtStart = state.decidedCount
    const heads: Array<[Uint8Array, number, Uint8Array]> = []
    for (const c of state.chains) if (c.length > 0) heads.push([c.key, c.length - 1, c.idAt(c.length - 1).slice(0, HEAD_ID_BYTES)])
    const forks: Array<[Uint8Array, number]> = state.equivocations.map(e => [fromHex(e.author), e.seq])
    const request: PullRequest = { t: 'pull', grid: this.ledger.gridId, heads, forks }
    const stream = await this.libp2p.dialProtocol(peerIdOf(this.libp2p, peer), SYNC_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
    const lp = lpStream(stream, { maxDataLength: SYNC_LIMITS.maxMessageBytes, maxBufferSize: SYNC_READ_BUFFER })
    const flow = readAhead(stream, SYNC_READ_AHEAD)
    let count = 0
    try {
      await lp.write(encodeMessage(request), { signal: AbortSignal.timeout(10_000) })
      const read = async (): Promise<ServerMessage> => {
        flow.reading()
        const data = (await lp.read({ signal: AbortSignal.timeout(30_000) })).subarray()
        flow.consumed(data.byteLength)
        return decodeServerMessage(data)
      }
      // Batches handed to the ledger and not yet decided: with a pool up to SYNC_IN_FLIGHT, so the next batches
      // are read and decoded, and their signatures checked by the pool's threads, while one is applied.
      const applying: Array<Promise<number>> = []
      const settleOne = async (): Promise<void> => { count += await (applying.shift() as Promise<number>) }
      try {
        let next = read()
        for (;;) {
          const message = await next
          if (message.t === 'done') {
            while (applying.length > 0) await settleOne()
            await stream.close().catch(() => {})
            return { count, more: message.more && count > 0 }
          }
          if (message.t === 'error') throw new Error(`peer refused the pull: ${message.message}`)
          if (message.left !== undefined) this.#syncTarget = Math.max(this.#syncTarget ?? 0, decidedAtStart + message.left)
          // Let the event loop take its I/O before each batch: applying them back to back kept it busy
          // ~1 s at a time during a long sync, and the keep-alive ping and gossip waited that long.
          // Not before the end: the pull is over as soon as its last batch is decided.
          await new Promise(resolve => setImmediate(resolve))
          // Read the next batch while this one is applied, so the server keeps sending.
          next = read()
          next.catch(() => {})
          const applied = this.ledger.applyBatch(message.ops).then(results => {
            const invalid = results.filter(r => r.status === 'invalid').length
            if (invalid > 0) throw new SyncProtocolError(`${invalid} invalid ops in a sync batch from ${peer}`)
            return message.ops.length
          })
          applied.catch(() => {}) // observed in turn below
          applying.push(applied)
          if (applying.length >= (this.#pool !== undefined ? SYNC_IN_FLIGHT : 1)) await settleOne()
        }
      } finally {
        // Batches already handed over are decided whatever happens to the stream: wait for them.
        await Promise.allSettled(applying)
      }
    } catch (err) {
      stream.abort(err as Error)
      if (isProtocolViolation(err)) this.#reportBad(peer, (err as Error).message)
      throw err
    }
  }

  /** Answers a pull: every decided op the puller lacks, in this node's decision order, then forks. */
  async #serve (stream: Stream, connection: Connection): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: SYNC_LIMITS.maxMessageBytes })
    const request = decodePullRequest((await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray())
    if (toHex(request.grid) !== toHex(this.ledger.gridId)) {
      await lp.write(encodeMessage({ t: 'error', message: 'another grid' }))
      await stream.close()
      return
    }
    const state = this.ledger.state
    const theirs = new Map<string, number>()
    for (const [key, seq, idPrefix] of request.heads) {
      const hex = toHex(key)
      const mine = state.findChain(key)
      // Another op at their head's position: the chain forked while we were apart. Send all of ours
      // for that chain, so the puller sees both branches from the fork point up.
      const diverged = mine !== undefined && seq < mine.length && !bytesEqual(mine.idAt(seq).subarray(0, HEAD_ID_BYTES), idPrefix)
      theirs.set(hex, diverged ? -1 : seq)
    }
    const knownForks = new Set(request.forks.map(([k, s]) => `${toHex(k)}:${s}`))
    // What the puller lacks in all, told with the first batch: its progress, over this pull and the next.
    let left: number | undefined = 0
    for (const chain of state.chains) left += Math.max(0, chain.length - 1 - (theirs.get(chain.hex) ?? -1))
    let batch: Uint8Array[] = []
    let batchBytes = 0
    let sent = 0
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return
      await lp.write(encodeMessage(left === undefined ? { t: 'ops', ops: batch } : { t: 'ops', ops: batch, left }), { signal: AbortSignal.timeout(30_000) })
      left = undefined
      batch = []
      batchBytes = 0
    }
    const send = async (bytes: Uint8Array | undefined): Promise<void> => {
      if (bytes === undefined) return
      batch.push(bytes)
      batchBytes += bytes.length
      sent++
      if (batch.length >= SYNC_LIMITS.maxOpsPerMessage || batchBytes > SYNC_LIMITS.maxMessageBytes / 2) await flush()
    }
    let more = false
    for (const [chain, seq] of state.decidedInOrder()) {
      if (seq <= (theirs.get(chain.hex) ?? -1)) continue
      if (sent >= SYNC_LIMITS.maxOpsPerPull) { more = true; break }
      await send(await this.ledger.storage.load(opKey(chain.hex, seq, chain.idAt(seq))))
    }
    for (const e of state.equivocations) {
      if (knownForks.has(`${e.author}:${e.seq}`)) continue
      for (const id of e.ids) await send(await this.ledger.storage.load(opKey(e.author, e.seq, id)))
    }
    await flush()
    await lp.write(encodeMessage({ t: 'done', more }))
    await stream.close()
    void connection
  }

  async stop (): Promise<void> {
    this.#stopped = true
    if (this.#timer !== undefined) clearInterval(this.#timer)
    await this.libp2p.stop()
    await this.#flushing?.catch(() => {})
    await Promise.allSettled([...this.#pulling.values()])
    await this.ledger.storage.close?.()
    await this.#pool?.close()
  }
}

function peerIdOf (libp2p: Libp2p, peer: string): PeerId {
  const found = libp2p.getPeers().find(p => p.toString() === peer)
  if (found === undefined) throw new Error(`not connected to ${peer}`)
  return found
}
