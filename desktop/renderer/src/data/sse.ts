// Server-sent events read from a fetch() body (EventSource cannot send the Authorization header).

export interface SseEvent { event: string, data: string }

/** Yields the events of a text/event-stream body; `onActivity` hears every line, comments included. */
export async function * readEvents (
  body: ReadableStream<Uint8Array>, onActivity: () => void = () => {}, signal?: AbortSignal
): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoderStream() as unknown as ReadableWritablePair<string, Uint8Array>
  const reader = body.pipeThrough(decoder).getReader()
  const cancel = (): void => { reader.cancel().catch(() => {}) }
  signal?.addEventListener('abort', cancel)
  let buffer = ''
  let event = ''
  let data: string[] = []
  try {
    while (true) {
      const { value, done } = await reader.read()
      if (done) return
      buffer += value
      let newline: number
      while ((newline = buffer.search(/\r\n|\n|\r/)) >= 0) {
        const line = buffer.slice(0, newline)
        buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1))
        onActivity()
        if (line === '') {
          if (data.length > 0) yield { event: event === '' ? 'message' : event, data: data.join('\n') }
          event = ''
          data = []
          continue
        }
        if (line.startsWith(':')) continue
        const colon = line.indexOf(':')
        const field = colon < 0 ? line : line.slice(0, colon)
        let value = colon < 0 ? '' : line.slice(colon + 1)
        if (value.startsWith(' ')) value = value.slice(1)
        if (field === 'event') event = value
        else if (field === 'data') data.push(value)
      }
    }
  } finally {
    signal?.removeEventListener('abort', cancel)
    reader.releaseLock()
  }
}
