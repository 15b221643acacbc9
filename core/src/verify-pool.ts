/**
 * Signature checks off the main thread: a pool of worker threads, each with the native verifier where
 * it loads (else noble), verifying batches while the main thread decodes and applies. Node only; the
 * Ledger falls back to verifying inline where no pool is given.
 */
import type { PublicKey } from '@microgrid/protocol'

export interface VerifyItem {
  sig: Uint8Array
  digest: Uint8Array
  publicKey: PublicKey
}

/** Verifies many signatures at once; the answer for item i is at index i. */
export interface BatchVerifier {
  readonly name: string
  verifyBatch (items: readonly VerifyItem[]): Promise<boolean[]>
  close (): Promise<void>
}

interface WorkerLike {
  postMessage (message: unknown, transfer?: ArrayBuffer[]): void
  on (event: 'message', listener: (value: { id: number, ok: Uint8Array }) => void): void
  on (event: 'error', listener: (err: Error) => void): void
  terminate (): Promise<number>
  unref (): void
}

export interface VerifierPoolOptions {
  /** Worker threads; default: one per CPU the process may use. */
  workers?: number
  /** Items per message to a worker. */
  chunk?: number
}

export class VerifierPool implements BatchVerifier {
  readonly name: string
  readonly #workers: WorkerLike[]
  readonly #chunk: number
  readonly #waiting = new Map<number, { resolve: (ok: Uint8Array) => void, reject: (err: Error) => void }>()
  #next = 0
  #turn = 0

  private constructor (workers: WorkerLike[], chunk: number, name: string) {
    this.#workers = workers
    this.#chunk = chunk
    this.name = name
    for (const w of workers) {
      w.unref()
      w.on('message', ({ id, ok }) => {
        const waiter = this.#waiting.get(id)
        this.#waiting.delete(id)
        waiter?.resolve(ok)
      })
      w.on('error', err => {
        for (const waiter of this.#waiting.values()) waiter.reject(err)
        this.#waiting.clear()
      })
    }
  }

  /** Starts the pool, or returns undefined where worker threads or the worker's script are not available. */
  static async start (options: VerifierPoolOptions = {}): Promise<VerifierPool | undefined> {
    const proc = (globalThis as { process?: NodeJS.Process }).process
    const threads = proc?.getBuiltinModule?.('node:worker_threads')
    const os = proc?.getBuiltinModule?.('node:os')
    const fs = proc?.getBuiltinModule?.('node:fs')
    if (threads === undefined || os === undefined || fs === undefined) return undefined
    // Beside this module: the source (verify-worker.ts), or in a one-file build the worker built next
    // to the bundle (verify-worker.mjs, see node's `build` script).
    const script = ['./verify-worker.ts', './verify-worker.mjs'].map(name => new URL(name, import.meta.url)).find(url => url.protocol === 'file:' && fs.existsSync(url))
    if (script === undefined) return undefined
    const count = Math.max(1, options.workers ?? os.availableParallelism())
    const workers = Array.from({ length: count }, () => new threads.Worker(script) as unknown as WorkerLike)
    const names = await Promise.all(workers.map(async w => await new Promise<string>((resolve, reject) => {
      const onReady = (m: unknown): void => { if (typeof m === 'object' && m !== null && 'ready' in m) resolve(String((m as { ready: string }).ready)) }
      ;(w as unknown as NodeJS.EventEmitter).once('message', onReady)
      w.on('error', reject)
    })))
    return new VerifierPool(workers, options.chunk ?? 64, `${names[0] ?? 'unknown'} × ${count} threads`)
  }

  async verifyBatch (items: readonly VerifyItem[]): Promise<boolean[]> {
    const parts: Array<Promise<Uint8Array>> = []
    for (let start = 0; start < items.length; start += this.#chunk) {
      parts.push(this.#send(items.slice(start, start + this.#chunk)))
    }
    const out: boolean[] = []
    for (const ok of await Promise.all(parts)) for (const b of ok) out.push(b === 1)
    return out
  }

  #send (items: readonly VerifyItem[]): Promise<Uint8Array> {
    const n = items.length
    const sigs = new Uint8Array(n * 64)
    const digests = new Uint8Array(n * 32)
    const keys = new Uint8Array(n * 33)
    const valid = new Uint8Array(n)
    items.forEach((item, i) => {
      // Wrong lengths can never verify: decided here so the packed layout stays fixed.
      if (item.sig.length !== 64 || item.digest.length !== 32 || item.publicKey.length !== 33) return
      valid[i] = 1
      sigs.set(item.sig, i * 64)
      digests.set(item.digest, i * 32)
      keys.set(item.publicKey, i * 33)
    })
    const id = this.#next++
    const worker = this.#workers[this.#turn++ % this.#workers.length] as WorkerLike
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve: ok => resolve(ok.map((b, i) => b & (valid[i] as number))), reject })
      worker.postMessage({ id, n, sigs, digests, keys }, [sigs.buffer, digests.buffer, keys.buffer])
    })
  }

  async close (): Promise<void> {
    await Promise.all(this.#workers.map(async w => await w.terminate()))
    for (const waiter of this.#waiting.values()) waiter.reject(new Error('verifier pool closed'))
    this.#waiting.clear()
  }
}
