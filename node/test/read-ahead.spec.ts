import { describe, expect, it } from 'vitest'
import { readAhead, varintLength, type ReadAheadStream } from '../src/read-ahead.ts'

/** A stream as the read-ahead sees it: messages arrive as events; pause and resume set its read status. */
class FakeStream extends EventTarget {
  readStatus: 'readable' | 'paused' | 'closing' | 'closed' = 'readable'
  pauses = 0
  resumes = 0
  pause (): void { this.readStatus = 'paused'; this.pauses++ }
  resume (): void { this.readStatus = 'readable'; this.resumes++ }
  arrive (bytes: number): void {
    const event = new Event('message') as Event & { data: Uint8Array }
    event.data = new Uint8Array(bytes)
    this.dispatchEvent(event)
  }
}

const asStream = (s: FakeStream): ReadAheadStream => s as unknown as ReadAheadStream

describe('readAhead', () => {
  it('pauses a stream once more than the limit has arrived unread, and resumes it when reads bring it back under', () => {
    const stream = new FakeStream()
    const flow = readAhead(asStream(stream), 1000)
    // Messages of 299 bytes, 2 bytes of length prefix each: 301 bytes a message on the wire.
    for (let i = 0; i < 3; i++) stream.arrive(301)
    expect(stream.readStatus).toBe('readable') // 903 unread
    stream.arrive(301)
    expect(stream.readStatus).toBe('paused') // 1,204 unread
    expect(stream.pauses).toBe(1)
    // What was in flight still arrives; the stream stays paused, not paused again.
    stream.arrive(301)
    expect(stream.pauses).toBe(1)
    // A read while more than the limit is unread takes a buffered message without resuming.
    flow.reading()
    expect(stream.readStatus).toBe('paused')
    flow.consumed(299) // 1,204 unread
    flow.reading()
    expect(stream.readStatus).toBe('paused')
    flow.consumed(299) // 903 unread
    flow.reading()
    expect(stream.readStatus).toBe('readable')
    expect(stream.resumes).toBe(1)
    // Reads while under the limit leave a readable stream alone.
    flow.consumed(299)
    flow.reading()
    expect(stream.resumes).toBe(1)
  })

  it('does not resume a stream that is closing, nor pause one that is not readable', () => {
    const stream = new FakeStream()
    const flow = readAhead(asStream(stream), 100)
    stream.readStatus = 'closing'
    stream.arrive(500)
    expect(stream.pauses).toBe(0)
    flow.consumed(498)
    flow.reading()
    expect(stream.resumes).toBe(0)
    expect(stream.readStatus).toBe('closing')
  })

  it('counts the varint length prefix of each message', () => {
    expect([0, 127, 128, 16_383, 16_384, 4 * 1024 * 1024].map(varintLength)).toEqual([1, 1, 2, 2, 3, 4])
  })
})
