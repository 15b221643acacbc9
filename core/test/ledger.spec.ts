import { describe, expect, it } from 'vitest'
import { OpDecodeError, SignatureError, decodeOp, type PublicKey } from '@microgrid/protocol'
import { GridMismatchError, Ledger, MemoryStorage, nativeVerifier, type IngestResult, type StorageEntry } from '@microgrid/core'
import { Island } from '@microgrid/core/testing'

function history (ops = 300): Island {
  const isl = new Island({ seed: 'ledger', producers: 2, households: 3, streetLights: 2, residents: 4 })
  isl.simulate(ops)
  return isl
}

function flip (bytes: Uint8Array, at: number, mask: number): void {
  bytes[at] = (bytes[at] as number) ^ mask
}

async function stored (storage: MemoryStorage): Promise<number> {
  return (await storage.loadRange(['op'])).length
}

describe('Ledger', () => {
  it('applies a history, stores every op and reopens to the same state without the verifier', async () => {
    const isl = history()
    const storage = new MemoryStorage()
    const ledger = await Ledger.open({ genesis: isl.genesis, storage })
    const results = await ledger.applyBatch(isl.ops)
    expect(results.every(r => r.status === 'applied')).toBe(true)
    expect(await stored(storage)).toBe(isl.ops.length)
    let verified = 0
    const counting = { name: 'counting', verify: () => { verified++; return true } }
    const reopened = await Ledger.open({ storage, verifier: counting })
    expect(reopened.stateHash()).toBe(ledger.stateHash())
    expect(verified).toBe(0) // stored ops were verified once, before they were stored
  })

  it('rejects malformed bytes with the field at fault and changes nothing', async () => {
    const isl = history(50)
    const storage = new MemoryStorage()
    const ledger = await Ledger.open({ genesis: isl.genesis, storage })
    await ledger.applyBatch(isl.ops.slice(0, 10))
    const before = ledger.stateHash()
    const truncated = isl.ops[10]!.slice(0, 40)
    const garbage = Uint8Array.of(0xff, 0x00, 0x13)
    const results = await ledger.applyBatch([truncated, garbage])
    for (const r of results) {
      expect(r.status).toBe('invalid')
      if (r.status === 'invalid') expect(r.error).toBeInstanceOf(OpDecodeError)
    }
    expect(ledger.stateHash()).toBe(before)
    expect(await stored(storage)).toBe(10)
  })

  it('rejects a forged signature and stores nothing', async () => {
    const isl = history(50)
    const storage = new MemoryStorage()
    const ledger = await Ledger.open({ genesis: isl.genesis, storage, verifier: nativeVerifier() })
    const forged = isl.ops[0]!.slice()
    flip(forged, forged.length - 1, 0x01) // the last byte belongs to the op's sig... or its body: either way not the signed op
    const result = await ledger.apply(forged)
    expect(result.status).toBe('invalid')
    if (result.status === 'invalid') expect(result.error instanceof SignatureError || result.error instanceof OpDecodeError).toBe(true)
    const sigFlipped = isl.ops[0]!.slice()
    const sigAt = sigFlipped.findIndex((_, i) => sigFlipped[i] === 0x63 && sigFlipped[i + 1] === 0x73 && sigFlipped[i + 2] === 0x69 && sigFlipped[i + 3] === 0x67) + 6
    flip(sigFlipped, sigAt + 10, 0x40)
    const bad = await ledger.apply(sigFlipped)
    expect(bad.status).toBe('invalid')
    if (bad.status === 'invalid') expect(bad.error).toBeInstanceOf(SignatureError)
    expect(await stored(storage)).toBe(0)
  })

  it('refuses ops of another grid', async () => {
    const isl = history(20)
    const other = new Island({ seed: 'elsewhere', producers: 1 })
    const ledger = await Ledger.open({ genesis: isl.genesis })
    const result = await ledger.apply(other.ops[0]!)
    expect(result.status).toBe('void')
    expect(await stored(ledger.storage as MemoryStorage)).toBe(0)
  })

  it('keeps an op whose causal past is missing and applies it when the past arrives', async () => {
    const isl = history(60)
    const ledger = await Ledger.open({ genesis: isl.genesis })
    const decided: IngestResult[] = []
    ledger.onOp(r => decided.push(r))
    const last = isl.ops.at(-1)!
    const waiting = await ledger.apply(last)
    expect(waiting.status).toBe('pending')
    if (waiting.status === 'pending') expect(waiting.missing.length).toBeGreaterThan(0)
    expect(ledger.state.missing().length).toBeGreaterThan(0)
    await ledger.applyBatch(isl.ops.slice(0, -1))
    expect(ledger.state.pendingCount).toBe(0)
    const id = decodeOp(last).id
    expect(decided.some(r => r.status === 'applied' && Buffer.compare(r.id, id) === 0)).toBe(true)
    expect(ledger.stateHash()).toBe(await Ledger.open({ genesis: isl.genesis }).then(async l => { await l.applyBatch(isl.ops); return l.stateHash() }))
  })

  it('reports duplicates without verifying them again', async () => {
    const isl = history(30)
    let verified = 0
    const native = nativeVerifier()!
    const counting = { name: 'counting', verify: (s: Uint8Array, d: Uint8Array, k: PublicKey) => { verified++; return native.verify(s, d, k) } }
    const ledger = await Ledger.open({ genesis: isl.genesis, verifier: counting })
    await ledger.applyBatch(isl.ops)
    const count = verified
    const again = await ledger.applyBatch([...isl.ops, isl.ops[0]!])
    expect(again.every(r => r.status === 'duplicate')).toBe(true)
    expect(verified).toBe(count)
  })

  it('drops what does not fit in the pending set, and stores none of it', async () => {
    const isl = history(80)
    const ledger = await Ledger.open({ genesis: isl.genesis, maxPending: 5 })
    const results = await ledger.applyBatch(isl.ops.slice(1).reverse().slice(0, 20))
    expect(results.filter(r => r.status === 'pending')).toHaveLength(5)
    expect(results.filter(r => r.status === 'dropped')).toHaveLength(15)
    expect(await stored(ledger.storage as MemoryStorage)).toBe(5)
  })

  it('acknowledges nothing the storage did not commit', async () => {
    const isl = history(40)
    class FailingStorage extends MemoryStorage {
      fail = false
      override async saveBatch (entries: readonly StorageEntry[]): Promise<void> {
        if (this.fail) throw new Error('disk full')
        await super.saveBatch(entries)
      }
    }
    const storage = new FailingStorage()
    const ledger = await Ledger.open({ genesis: isl.genesis, storage })
    await ledger.applyBatch(isl.ops.slice(0, 20))
    const before = ledger.stateHash()
    storage.fail = true
    await expect(ledger.applyBatch(isl.ops.slice(20))).rejects.toThrow('disk full')
    expect(ledger.stateHash()).toBe(before) // memory matches what is stored
    storage.fail = false
    await ledger.applyBatch(isl.ops.slice(20))
    expect(ledger.state.pendingCount).toBe(0)
  })

  it('opens only the grid its storage holds', async () => {
    const isl = history(10)
    const other = new Island({ seed: 'elsewhere' })
    await expect(Ledger.open({ storage: new MemoryStorage() })).rejects.toThrow(GridMismatchError)
    const storage = new MemoryStorage()
    await Ledger.open({ genesis: isl.genesis, storage })
    await expect(Ledger.open({ genesis: other.genesis, storage })).rejects.toThrow(GridMismatchError)
    const forged = isl.genesis.slice()
    flip(forged, forged.length - 3, 1)
    await expect(Ledger.open({ genesis: forged })).rejects.toThrow()
  })
})
