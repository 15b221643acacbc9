/**
 * Time beacons: a registrar's or a payment oracle's node signs a `beacon` op (empty body; its ts is the
 * point) once at start and then every `beaconIntervalMs` of the grid's policy. A generation meter may
 * mint only for time the grid's authorities witnessed (LEDGER.md, "Time witnessed"), so without
 * beacons an island's meters stop minting once the latest authority op is older than the mint slack.
 */
import { bytesEqual, policyOf, type OpSigner } from '@microgrid/protocol'
import { systemClock, type Clock, type IngestResult } from '@microgrid/core'
import type { MicrogridNode } from './node.ts'
import { signInTurn } from './settlement.ts'

/** The signer is neither a registrar nor a payment oracle of the grid's genesis: its beacons would be rejected. */
export class BeaconSignerError extends Error {
  override readonly name = 'BeaconSignerError'
}

export interface BeaconInit {
  node: MicrogridNode
  /** A genesis registrar's or oracle's key. */
  signer: OpSigner
  /** Default: the genesis policy's `beaconIntervalMs` (5 min for a v1 genesis). */
  intervalMs?: number
  /**
   * Decides when a beacon is due (the op's ts is the node's clock, normally the same); default the
   * system clock. With a ManualClock, moving it past the interval publishes within `checkEveryMs`.
   */
  clock?: Clock
  /** How often the clock is read; default a tenth of the interval, at most 1 s. */
  checkEveryMs?: number
  /** After each beacon signed (whatever the ledger decided) or each failure to sign one. */
  onBeacon?: (result: IngestResult & { bytes: Uint8Array }) => void
  onError?: (err: unknown) => void
}

export interface BeaconService {
  /** Signs a beacon now (unless one is being signed, the node holds undecided ops of the signer, or it is frozen). */
  publishNow: () => Promise<(IngestResult & { bytes: Uint8Array }) | undefined>
  /** Beacons the ledger applied since the service started. */
  readonly published: number
  /** The clock's time at the last beacon applied, if any. */
  readonly lastAt: number | undefined
  readonly intervalMs: number
  stop: () => Promise<void>
}

/**
 * Starts publishing `signer`'s beacons from `node`. Throws `BeaconSignerError` at once if the signer is
 * not a registrar or an oracle of the genesis. Its timer is unref'd: it never keeps a process alive.
 */
export function beaconService ({ node, signer, intervalMs, clock = systemClock, checkEveryMs, onBeacon, onError }: BeaconInit): BeaconService {
  const genesis = node.ledger.state.genesis
  const authority = [...genesis.registrars, ...genesis.oracles].some(k => bytesEqual(k, signer.publicKey))
  if (!authority) throw new BeaconSignerError('beacons: the signer is neither a registrar nor a payment oracle of this grid\'s genesis')
  const interval = intervalMs ?? policyOf(genesis).beaconIntervalMs
  if (!Number.isSafeInteger(interval) || interval <= 0) throw new RangeError('beacons: intervalMs must be a positive integer')
  // Read the clock often enough that a beacon is at most a tenth of the interval (or a second) late.
  const every = checkEveryMs ?? Math.max(1, Math.min(Math.floor(interval / 10), 1_000))
  let published = 0
  let lastAt: number | undefined
  let inFlight: Promise<(IngestResult & { bytes: Uint8Array }) | undefined> | undefined
  let stopped = false

  const publish = async (): Promise<(IngestResult & { bytes: Uint8Array }) | undefined> => {
    if (stopped) return undefined
    if (inFlight !== undefined) return await inFlight
    inFlight = (async () => {
      try {
        const at = clock.now()
        const result = await signInTurn(node, signer, 'beacon', {})
        if (result === undefined) return undefined
        if (result.status === 'applied') { published++; lastAt = at }
        onBeacon?.(result)
        return result
      } catch (err) {
        if (!stopped) onError?.(err)
        return undefined
      } finally {
        inFlight = undefined
      }
    })()
    return await inFlight
  }

  const timer = setInterval(() => {
    // A clock set back (or a ManualClock moved) counts as elapsed time too: beacons track the present.
    if (lastAt === undefined || Math.abs(clock.now() - lastAt) >= interval) void publish()
  }, every)
  timer.unref()
  void publish()

  return {
    publishNow: publish,
    get published () { return published },
    get lastAt () { return lastAt },
    intervalMs: interval,
    stop: async () => {
      stopped = true
      clearInterval(timer)
      await inFlight?.catch(() => {})
    }
  }
}
