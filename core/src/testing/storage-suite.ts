/**
 * The acceptance suite every `StorageAdapter` passes. `setup` runs before each test and must return an
 * empty store; after the test the suite calls `teardown` when given, else `adapter.close()` when there
 * is one. Call it from a vitest spec file.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import type { StorageAdapter, StorageEntry, StorageKey } from '../storage.ts'

export interface StorageSuiteContext {
  adapter: StorageAdapter
  teardown?: () => Promise<void>
}

function bytes (...values: number[]): Uint8Array {
  return Uint8Array.from(values)
}

/** Compares contents only, so a Buffer from a backend equals the Uint8Array that was saved. */
function expectBytes (actual: Uint8Array | undefined, expected: Uint8Array, what = 'value'): void {
  expect(actual, `${what}: expected bytes, got undefined`).toBeDefined()
  const a = actual as Uint8Array
  expect(a, `${what}: expected a Uint8Array`).toBeInstanceOf(Uint8Array)
  expect(a.length, `${what}: length`).toBe(expected.length)
  let firstDiff = -1
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== expected[i]) { firstDiff = i; break }
  }
  expect(firstDiff, `${what}: first differing byte`).toBe(-1)
}

function keysOf (entries: StorageEntry[]): string[][] {
  return entries.map(e => [...e.key])
}

/** Runs `fn` and expects it to fail, whether it throws at once or returns a rejected promise. */
async function expectFailure (fn: () => Promise<unknown>, what: string): Promise<void> {
  let failed: unknown
  try {
    await fn()
  } catch (err) {
    failed = err
  }
  expect(failed, `${what}: expected an error`).toBeInstanceOf(Error)
}

const BAD_KEYS: Array<[string, StorageKey]> = [
  ['empty key', []],
  ['empty segment', ['ops', '']],
  ['empty first segment', ['', 'x']],
  ['NUL in a segment', ['ops', 'a\0b']],
  ['lone NUL segment', ['\0']]
]

const BAD_PREFIXES: Array<[string, StorageKey]> = [
  ['empty segment', ['']],
  ['empty segment after a good one', ['ops', '']],
  ['NUL in a segment', ['o\0ps']]
]

export function runStorageAdapterTests (
  name: string,
  setup: () => Promise<StorageSuiteContext>
): void {
  describe(`StorageAdapter acceptance: ${name}`, () => {
    let ctx!: StorageSuiteContext
    let store!: StorageAdapter

    beforeEach(async () => {
      ctx = await setup()
      store = ctx.adapter
    })

    afterEach(async () => {
      if (ctx.teardown !== undefined) await ctx.teardown()
      else await store.close?.()
    })

    describe('single keys', () => {
      it('starts empty: load of a missing key is undefined, loadRange([]) is []', async () => {
        expect(await store.load(['missing'])).toBeUndefined()
        expect(await store.load(['ops', 'missing'])).toBeUndefined()
        expect(await store.loadRange([])).toEqual([])
      })

      it('save then load returns the same bytes', async () => {
        await store.save(['meta', 'head'], bytes(1, 2, 3))
        expectBytes(await store.load(['meta', 'head']), bytes(1, 2, 3))
        // A different key, including a parent or a child, is still missing.
        expect(await store.load(['meta'])).toBeUndefined()
        expect(await store.load(['meta', 'head', 'x'])).toBeUndefined()
        expect(await store.load(['meta', 'hea'])).toBeUndefined()
      })

      it('an empty value is stored and is not the same as a missing one', async () => {
        await store.save(['empty'], new Uint8Array(0))
        expectBytes(await store.load(['empty']), new Uint8Array(0))
        expect(await store.loadRange(['empty'])).toHaveLength(1)
      })

      it('save overwrites', async () => {
        await store.save(['k'], bytes(1, 2, 3, 4, 5))
        await store.save(['k'], bytes(9))
        expectBytes(await store.load(['k']), bytes(9))
        expect(await store.loadRange([])).toHaveLength(1)
      })

      it('returned bytes are copies: mutating them does not change storage', async () => {
        await store.save(['k'], bytes(1, 2, 3))
        const first = await store.load(['k'])
        first?.fill(0xee)
        expectBytes(await store.load(['k']), bytes(1, 2, 3))
        const range = await store.loadRange([])
        range[0]?.data.fill(0xee)
        expectBytes(await store.load(['k']), bytes(1, 2, 3))
      })

      it('saved bytes are copied: mutating the input after save does not change storage', async () => {
        const data = bytes(1, 2, 3)
        await store.save(['k'], data)
        data.fill(0)
        expectBytes(await store.load(['k']), bytes(1, 2, 3))
        const batchData = bytes(4, 5)
        await store.saveBatch([{ key: ['b'], data: batchData }])
        batchData.fill(0)
        expectBytes(await store.load(['b']), bytes(4, 5))
      })

      it('a view into a larger buffer stores only the view', async () => {
        const big = Uint8Array.from({ length: 100 }, (_, i) => i)
        await store.save(['view'], big.subarray(10, 20))
        expectBytes(await store.load(['view']), big.slice(10, 20))
      })

      it('remove deletes one key; removing a missing key is fine', async () => {
        await store.save(['a'], bytes(1))
        await store.save(['a', 'child'], bytes(2))
        await store.save(['b'], bytes(3))
        await store.remove(['a'])
        expect(await store.load(['a'])).toBeUndefined()
        expectBytes(await store.load(['a', 'child']), bytes(2))
        expectBytes(await store.load(['b']), bytes(3))
        await store.remove(['a'])
        await store.remove(['never', 'there'])
        expect(keysOf(await store.loadRange([]))).toEqual([['a', 'child'], ['b']])
      })

      it('segments are kept apart: ["a/b"] and ["a", "b"] are different keys', async () => {
        await store.save(['a/b'], bytes(1))
        await store.save(['a', 'b'], bytes(2))
        await store.save(['a.b'], bytes(3))
        await store.save(['a\\b'], bytes(4))
        expectBytes(await store.load(['a/b']), bytes(1))
        expectBytes(await store.load(['a', 'b']), bytes(2))
        expectBytes(await store.load(['a.b']), bytes(3))
        expectBytes(await store.load(['a\\b']), bytes(4))
        expect(keysOf(await store.loadRange(['a']))).toEqual([['a', 'b']])
      })

      it('keys with unusual text round trip', async () => {
        const keys: StorageKey[] = [
          ['ops', 'é', 'ünïcödé'], ['emoji', '⚡🔌'], ['quote"s', "it's"], ['%', '%25', '*', '?', '_'],
          ['sp ace', ' '], ['new\nline', '\t'], ['["json",1]'], ['..', '.'], ['long', 'x'.repeat(500)]
        ]
        for (const [i, key] of keys.entries()) await store.save(key, bytes(i))
        for (const [i, key] of keys.entries()) expectBytes(await store.load(key), bytes(i), JSON.stringify(key))
        expect(await store.loadRange([])).toHaveLength(keys.length)
        expect(keysOf(await store.loadRange(['%']))).toEqual([['%', '%25', '*', '?', '_']])
        expect(await store.loadRange(['_'])).toEqual([])
      })
    })

    describe('ranges', () => {
      const seed = async (): Promise<void> => {
        // Saved out of order on purpose.
        await store.save(['ops', 'b'], bytes(2))
        await store.save(['ops', 'ab'], bytes(4))
        await store.save(['meta'], bytes(9))
        await store.save(['ops', 'a', 'x'], bytes(5))
        await store.save(['ops', 'a'], bytes(1))
        await store.save(['opsx', 'a'], bytes(6))
        await store.save(['ops', 'c'], bytes(3))
      }

      it('loadRange returns only keys under the prefix, in ascending order, with their data', async () => {
        await seed()
        const ops = await store.loadRange(['ops'])
        expect(keysOf(ops)).toEqual([['ops', 'a'], ['ops', 'a', 'x'], ['ops', 'ab'], ['ops', 'b'], ['ops', 'c']])
        expect(ops.map(e => [...e.data])).toEqual([[1], [5], [4], [2], [3]])
      })

      it('a key that only shares a string prefix of a segment is not in the range', async () => {
        await seed()
        expect(keysOf(await store.loadRange(['ops', 'a']))).toEqual([['ops', 'a'], ['ops', 'a', 'x']])
        expect(keysOf(await store.loadRange(['op']))).toEqual([])
        expect(keysOf(await store.loadRange(['ops', 'a', 'x']))).toEqual([['ops', 'a', 'x']])
        expect(keysOf(await store.loadRange(['ops', 'a', 'x', 'y']))).toEqual([])
        expect(keysOf(await store.loadRange(['nothing']))).toEqual([])
      })

      it('prefix [] returns everything, in ascending order', async () => {
        await seed()
        expect(keysOf(await store.loadRange([]))).toEqual([
          ['meta'], ['ops', 'a'], ['ops', 'a', 'x'], ['ops', 'ab'], ['ops', 'b'], ['ops', 'c'], ['opsx', 'a']
        ])
      })

      it('scanRange, where the adapter has it, gives what loadRange gives, in the same order', async () => {
        if (store.scanRange === undefined) return
        await seed()
        await store.save(['ops', 'big'], new Uint8Array(1_100_000).fill(7))
        for (const prefix of [[], ['ops'], ['ops', 'a'], ['op'], ['nothing']]) {
          const scanned: StorageEntry[] = []
          for await (const entry of store.scanRange(prefix)) scanned.push(entry)
          const loaded = await store.loadRange(prefix)
          expect(keysOf(scanned), JSON.stringify(prefix)).toEqual(keysOf(loaded))
          expect(scanned.map(e => e.data), JSON.stringify(prefix)).toEqual(loaded.map(e => e.data))
        }
        await expect((async () => { for await (const _ of store.scanRange!(['ops', ''])) break })()).rejects.toThrow()
      })

      it('orders segment by segment, not by a joined string', async () => {
        // Joined with "/", "a-/z" would sort before "a/b" ("-" < "/"); segment by segment "a" < "a-".
        const keys: StorageKey[] = [['a-', 'a'], ['a', 'z'], ['a'], ['a', 'b', 'c'], ['a', 'b'], ['a0'], ['A'], ['a', 'B'], ['9'], ['10']]
        for (const key of keys) await store.save(key, bytes(1))
        expect(keysOf(await store.loadRange([]))).toEqual([
          ['10'], ['9'], ['A'], ['a'], ['a', 'B'], ['a', 'b'], ['a', 'b', 'c'], ['a', 'z'], ['a-', 'a'], ['a0']
        ])
        expect(keysOf(await store.loadRange(['a']))).toEqual([['a'], ['a', 'B'], ['a', 'b'], ['a', 'b', 'c'], ['a', 'z']])
      })

      it('hex ids come back in ascending order', async () => {
        const ids = Array.from({ length: 200 }, () => Array.from(crypto.getRandomValues(new Uint8Array(8)), b => b.toString(16).padStart(2, '0')).join(''))
        await store.saveBatch(ids.map(id => ({ key: ['ops', id], data: bytes(1) })))
        const got = (await store.loadRange(['ops'])).map(e => e.key[1])
        expect(got).toEqual([...new Set(ids)].sort())
      })

      it('removeRange removes exactly the keys under the prefix', async () => {
        await seed()
        await store.removeRange(['ops', 'a'])
        expect(keysOf(await store.loadRange([]))).toEqual([['meta'], ['ops', 'ab'], ['ops', 'b'], ['ops', 'c'], ['opsx', 'a']])
        await store.removeRange(['ops'])
        expect(keysOf(await store.loadRange([]))).toEqual([['meta'], ['opsx', 'a']])
        await store.removeRange(['nothing', 'here'])
        expect(keysOf(await store.loadRange([]))).toEqual([['meta'], ['opsx', 'a']])
        await store.removeRange([])
        expect(await store.loadRange([])).toEqual([])
        expect(await store.load(['meta'])).toBeUndefined()
      })

      it('the store works normally after removeRange', async () => {
        await seed()
        await store.removeRange(['ops'])
        await store.save(['ops', 'a'], bytes(7))
        expect(keysOf(await store.loadRange(['ops']))).toEqual([['ops', 'a']])
        expectBytes(await store.load(['ops', 'a']), bytes(7))
      })
    })

    describe('batches', () => {
      it('saveBatch of many entries: all visible after', async () => {
        const entries = Array.from({ length: 1000 }, (_, i) => ({ key: ['batch', String(i).padStart(4, '0')], data: bytes(i & 0xff, i >> 8) }))
        await store.saveBatch(entries)
        const got = await store.loadRange(['batch'])
        expect(got).toHaveLength(1000)
        for (const [i, e] of got.entries()) {
          expect(e.key).toEqual(['batch', String(i).padStart(4, '0')])
          expectBytes(e.data, bytes(i & 0xff, i >> 8), `entry ${i}`)
        }
        expectBytes(await store.load(['batch', '0777']), bytes(777 & 0xff, 777 >> 8))
      })

      it('saveBatch([]) is a no-op', async () => {
        await store.save(['k'], bytes(1))
        await store.saveBatch([])
        expect(keysOf(await store.loadRange([]))).toEqual([['k']])
      })

      it('saveBatch overwrites existing keys, and a later entry for the same key wins', async () => {
        await store.save(['k'], bytes(1))
        await store.saveBatch([{ key: ['k'], data: bytes(2) }, { key: ['j'], data: bytes(3) }, { key: ['j'], data: bytes(4) }])
        expectBytes(await store.load(['k']), bytes(2))
        expectBytes(await store.load(['j']), bytes(4))
        expect(await store.loadRange([])).toHaveLength(2)
      })

      it('saveBatch with one invalid entry fails and changes nothing', async () => {
        await store.save(['existing'], bytes(1))
        for (const [what, badKey] of BAD_KEYS) {
          await expectFailure(() => store.saveBatch([
            { key: ['existing'], data: bytes(2) },
            { key: ['new', 'one'], data: bytes(3) },
            { key: badKey, data: bytes(4) },
            { key: ['new', 'two'], data: bytes(5) }
          ]), `batch with ${what}`)
          expectBytes(await store.load(['existing']), bytes(1), `after a batch with ${what}`)
          expect(keysOf(await store.loadRange([])), `after a batch with ${what}`).toEqual([['existing']])
        }
        // Bad data (not bytes) is refused the same way.
        await expectFailure(() => store.saveBatch([
          { key: ['new'], data: bytes(3) },
          { key: ['bad'], data: 'not bytes' as unknown as Uint8Array }
        ]), 'batch with non-byte data')
        expect(keysOf(await store.loadRange([]))).toEqual([['existing']])
      })

      it('concurrent saves and batches all land', async () => {
        await Promise.all([
          ...Array.from({ length: 50 }, (_, i) => store.save(['c', String(i).padStart(2, '0')], bytes(i))),
          store.saveBatch(Array.from({ length: 50 }, (_, i) => ({ key: ['d', String(i).padStart(2, '0')], data: bytes(i) })))
        ])
        expect(await store.loadRange(['c'])).toHaveLength(50)
        expect(await store.loadRange(['d'])).toHaveLength(50)
        const loaded = await Promise.all(Array.from({ length: 50 }, (_, i) => store.load(['c', String(i).padStart(2, '0')])))
        loaded.forEach((data, i) => expectBytes(data, bytes(i), `c/${i}`))
      })
    })

    describe('key validation', () => {
      it('save, load and remove refuse bad keys with an error', async () => {
        for (const [what, key] of BAD_KEYS) {
          await expectFailure(() => store.save(key, bytes(1)), `save, ${what}`)
          await expectFailure(() => store.load(key), `load, ${what}`)
          await expectFailure(() => store.remove(key), `remove, ${what}`)
          await expectFailure(() => store.saveBatch([{ key, data: bytes(1) }]), `saveBatch, ${what}`)
        }
        expect(await store.loadRange([])).toEqual([])
      })

      it('loadRange and removeRange accept [] but refuse bad segments', async () => {
        await store.save(['k'], bytes(1))
        for (const [what, prefix] of BAD_PREFIXES) {
          await expectFailure(() => store.loadRange(prefix), `loadRange, ${what}`)
          await expectFailure(() => store.removeRange(prefix), `removeRange, ${what}`)
        }
        expectBytes(await store.load(['k']), bytes(1))
      })
    })

    describe('sizes and contents', () => {
      it('binary data with every byte value survives', async () => {
        const all = Uint8Array.from({ length: 256 * 4 }, (_, i) => (i * 7 + (i >> 8)) & 0xff)
        const seen = new Set(all)
        expect(seen.size).toBe(256)
        await store.save(['bin'], all)
        expectBytes(await store.load(['bin']), all)
        await store.save(['zeros'], new Uint8Array(100))
        expectBytes(await store.load(['zeros']), new Uint8Array(100))
        const [entry] = await store.loadRange(['bin'])
        expectBytes(entry?.data, all)
      })

      it('a 1 MB value round trips', async () => {
        const big = new Uint8Array(1 << 20)
        for (let i = 0; i < big.length; i += 65536) crypto.getRandomValues(big.subarray(i, i + 65536))
        await store.save(['big'], big)
        expectBytes(await store.load(['big']), big, '1 MB value')
        await store.saveBatch([{ key: ['big2'], data: big }, { key: ['small'], data: bytes(1) }])
        expectBytes(await store.load(['big2']), big, '1 MB value in a batch')
      })

      it('10,000 keys: ranges, order and removal', async () => {
        const n = 10_000
        const key = (i: number): string[] => ['many', String(i % 10), String(i).padStart(5, '0')]
        await store.saveBatch(Array.from({ length: n }, (_, i) => ({ key: key(i), data: bytes(i & 0xff) })))
        const all = await store.loadRange(['many'])
        expect(all).toHaveLength(n)
        for (let k = 1; k < all.length; k++) {
          const a = all[k - 1]?.key.join('/') ?? ''
          const b = all[k]?.key.join('/') ?? ''
          if (!(a < b)) expect.fail(`out of order at ${k}: ${a} then ${b}`)
        }
        const group3 = await store.loadRange(['many', '3'])
        expect(group3).toHaveLength(n / 10)
        expect(group3[0]?.key).toEqual(['many', '3', '00003'])
        expect(group3.at(-1)?.key).toEqual(['many', '3', '09993'])
        expectBytes(await store.load(key(4321)), bytes(4321 & 0xff))
        await store.removeRange(['many', '3'])
        expect(await store.loadRange(['many'])).toHaveLength(n - n / 10)
        expect(await store.load(key(4323))).toBeUndefined()
        expectBytes(await store.load(key(4324)), bytes(4324 & 0xff))
        // Individual saves still work next to many keys.
        for (let i = 0; i < 100; i++) await store.save(['single', String(i)], bytes(i))
        expect(await store.loadRange(['single'])).toHaveLength(100)
      })
    })
  })
}
