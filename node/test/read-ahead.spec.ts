import { describe, expect, it } from 'vitest'
import { readAhead, varintLength, type ReadAheadStream } from '../src/read-ahead.ts'

/**
 * A stream as the read-ahead sees it, as libp2p's streams behave: data that arrives while paused is
 * held and handed over by `resume()`, which then lets the muxer grant the sender window again
 * (`granting`); `pause()` stops the granting.
 */
class FakeStream extends EventTarget {
  readStatus: 'readable' | 'paused' | 'closing' | 'closed' = 'readable'
  granting = true
  held = 0
  pauses = 0
  resumes = 0
  pause (): void { this.readStatus = 'paused'; this.granting = false; this.pauses++ }
  resume (): void {
    this.readStatus = 'readable'
    this.resumes++
    if (this.held > 0) { const n = this.held; this.held = 0; this.dispatch(n) }
    this.granting = true
  }

  arrive (bytes: number): void {
    if (this.readStatus === 'paused') this.held += bytes
    else this.dispatch(bytes)
  }

  dispatch (bytes: number): void {
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
    // A read while more than the limit is unread takes a buffered message without resuming.
    flow.reading()
    expect(stream.readStatus).toBe('paused')
    flow.consumed(299) // 903 unread
    flow.reading()
    expect(stream.readStatus).toBe('readable')
    expect(stream.granting).toBe(true)
    expect(stream.resumes).toBe(1)
    expect(stream.pauses).toBe(1)
    // Reads while under the limit leave a readable stream alone.
    flow.consumed(299)
    flow.reading()
    expect(stream.resumes).toBe(1)
  })

  it('pauses again after a resume that hands over more than the limit, so the sender is not granted window while paused', () => {
    const stream = new FakeStream()
    const flow = readAhead(asStream(stream), 1000)
    for (let i = 0; i < 4; i++) stream.arrive(301) // 1,204 unread: paused
    expect(stream.readStatus).toBe('paused')
    // While paused, what was in flight is held by the stream, not handed over.
    stream.arrive(301)
    stream.arrive(301)
    expect(stream.held).toBe(602)
    flow.consumed(299)
    flow.consumed(299) // 602 unread: a read may need more, so the stream resumes and hands over 602
    flow.reading()
    expect(stream.resumes).toBe(1)
    // 1,204 unread again: paused, and the muxer told to stop granting, after resume() has returned.
    expect(stream.readStatus).toBe('paused')
    expect(stream.granting).toBe(false)
    expect(stream.pauses).toBe(2)
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
