/** A verifier thread of VerifierPool: packed batches in, one byte per signature out (1 = valid). */
import { parentPort } from 'node:worker_threads'
import { defaultVerifier } from './verifiers.ts'

const verifier = defaultVerifier()
const port = parentPort
if (port === null) throw new Error('verify-worker runs inside a worker thread')
port.on('message', ({ id, n, sigs, digests, keys }: { id: number, n: number, sigs: Uint8Array, digests: Uint8Array, keys: Uint8Array }) => {
  const ok = new Uint8Array(n)
  for (let i = 0; i < n; i++) {
    ok[i] = verifier.verify(sigs.subarray(i * 64, i * 64 + 64), digests.subarray(i * 32, i * 32 + 32), keys.subarray(i * 33, i * 33 + 33)) ? 1 : 0
  }
  port.postMessage({ id, ok }, [ok.buffer])
})
port.postMessage({ ready: verifier.name })
