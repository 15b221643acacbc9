/**
 * The sync protocol's server messages as a puller decodes them: `left` (what the server holds beyond
 * the puller's heads, on a pull's first batch) is optional, and a malformed one is a protocol error.
 */
import * as dagCbor from '@ipld/dag-cbor'
import { describe, expect, it } from 'vitest'
import { SyncProtocolError, decodeServerMessage, encodeMessage } from '../src/sync-messages.ts'

const op = new Uint8Array([1, 2, 3])

describe('sync server messages', () => {
  it('decodes ops with and without left', () => {
    expect(decodeServerMessage(encodeMessage({ t: 'ops', ops: [op], left: 2_000 }))).toEqual({ t: 'ops', ops: [op], left: 2_000 })
    expect(decodeServerMessage(encodeMessage({ t: 'ops', ops: [op] }))).toEqual({ t: 'ops', ops: [op] })
  })

  it('refuses a left that is not a whole number ≥ 0', () => {
    for (const left of [-1, 1.5, '12', null]) {
      expect(() => decodeServerMessage(dagCbor.encode({ t: 'ops', ops: [op], left }))).toThrow(new SyncProtocolError('left: expected a whole number ≥ 0'))
    }
  })
})
