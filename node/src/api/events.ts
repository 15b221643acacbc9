/**
 * The live feed behind `GET /events`: the node's op and meter-report events become SSE messages
 * (`op`, `balance`, `meter`), broadcast to every connected client. Each client has a bounded queue: a
 * client that falls more than `maxQueue` events behind is disconnected (it reconnects and reads the
 * current state), so a slow reader never makes the node hold memory without bound.
 */
export interface HubEvent {
  id: number
  event: string
  data: string
}

export interface HubClient {
  /** The events queued, waiting up to `waitMs` for one if none is (then []); null once the client is closed. */
  next: (waitMs?: number) => Promise<HubEvent[] | null>
  close: () => void
  readonly closed: boolean
}

export class EventHub {
  readonly #clients = new Set<Client>()
  readonly #maxQueue: number
  #seq = 0

  constructor (maxQueue = 10_000) {
    this.#maxQueue = maxQueue
  }

  get size (): number {
    return this.#clients.size
  }

  /** Broadcasts `data` as JSON. */
  publish (event: string, data: unknown): void {
    if (this.#clients.size === 0) return
    this.publishText(event, JSON.stringify(data))
  }

  /** Broadcasts text that is already the event's data (one line). */
  publishText (event: string, text: string): void {
    if (this.#clients.size === 0) return
    const e: HubEvent = { id: ++this.#seq, event, data: text }
    for (const c of this.#clients) {
      if (c.queue.length >= this.#maxQueue) c.close()
      else c.push(e)
    }
  }

  subscribe (): HubClient {
    const c = new Client(() => this.#clients.delete(c))
    this.#clients.add(c)
    return c
  }

  /** Ends every stream (the server is closing). */
  closeAll (): void {
    for (const c of [...this.#clients]) c.close()
  }
}

class Client implements HubClient {
  queue: HubEvent[] = []
  closed = false
  #wake: (() => void) | undefined
  readonly #onClose: () => void

  constructor (onClose: () => void) {
    this.#onClose = onClose
  }

  push (e: HubEvent): void {
    this.queue.push(e)
    this.#wake?.()
  }

  /** Resolves with what is queued, or when something arrives or the client closes, or after `waitMs` with nothing. */
  async next (waitMs = Number.POSITIVE_INFINITY): Promise<HubEvent[] | null> {
    if (this.closed) return null
    if (this.queue.length === 0) {
      await new Promise<void>(resolve => {
        const timer = Number.isFinite(waitMs) ? setTimeout(resolve, waitMs) : undefined
        this.#wake = () => { if (timer !== undefined) clearTimeout(timer); resolve() }
      })
      this.#wake = undefined
    }
    if (this.closed) return null
    const out = this.queue
    this.queue = []
    return out
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    this.#onClose()
    this.#wake?.()
  }
}
