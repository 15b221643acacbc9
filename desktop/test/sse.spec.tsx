import { describe, expect, it } from 'vitest'
import { readEvents, type SseEvent } from '../renderer/src/data/sse.ts'

/** A body that delivers `text` cut at the given offsets. */
function body (text: string, cuts: number[]): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text)
  const ends = [...cuts, bytes.length]
  let at = 0
  return new ReadableStream({
    pull: controller => {
      const end = ends.shift()
      if (end === undefined) { controller.close(); return }
      controller.enqueue(bytes.slice(at, end))
      at = end
    }
  })
}

async function read (text: string, cuts: number[] = [], onActivity?: () => void): Promise<SseEvent[]> {
  const events: SseEvent[] = []
  for await (const e of readEvents(body(text, cuts), onActivity)) events.push(e)
  return events
}

const STREAM = 'event: hello\ndata: {"epoch":"e1"}\n\n: keep-alive\n\nevent: update\r\ndata: AAAA\r\ndata: BBBB\r\n\r\ndata:no-space\rdata: x\r\r'
const EVENTS = [
  { event: 'hello', data: '{"epoch":"e1"}' },
  { event: 'update', data: 'AAAA\nBBBB' },
  { event: 'message', data: 'no-space\nx' }
]

describe('readEvents', () => {
  it('reads events, multi-line data and comments with \\n, \\r\\n and \\r line breaks', async () => {
    expect(await read(STREAM)).toEqual(EVENTS)
  })

  it('gives the same events wherever the chunks are cut, a \\r\\n cut in two included', async () => {
    const crlf = STREAM.indexOf('\r\n') + 1
    expect(await read(STREAM, [crlf])).toEqual(EVENTS)
    for (let cut = 1; cut < STREAM.length; cut++) expect(await read(STREAM, [cut]), `cut at ${cut}`).toEqual(EVENTS)
    expect(await read(STREAM, Array.from({ length: STREAM.length - 1 }, (_, i) => i + 1))).toEqual(EVENTS)
  })

  it('joins a line of megabytes sent in many chunks, hearing activity at every chunk', async () => {
    const long = 'A'.repeat(4_000_000)
    const text = `event: update\ndata: ${long}\n\n`
    const cuts = Array.from({ length: Math.floor(text.length / 65_536) }, (_, i) => (i + 1) * 65_536)
    let heard = 0
    const events = await read(text, cuts, () => { heard++ })
    expect(events).toHaveLength(1)
    expect(events[0]?.event).toBe('update')
    expect(events[0]?.data.length).toBe(long.length)
    expect(events[0]?.data === long).toBe(true)
    expect(heard).toBe(cuts.length + 1)
  })
})
