// Server-sent events read from a fetch() body (EventSource cannot send the Authorization header).

export interface SseEvent { event: string, data: string }

/** Yields the events of a text/event-stream body; `onActivity` hears every chunk received, keep-alive comments included. */
export async function * readEvents (
  body: ReadableStream<Uint8Array>, onActivity: () => void = () => {}, signal?: AbortSignal
): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoderStream() as unknown as ReadableWritablePair<string, Uint8Array>
  const reader = body.pipeThrough(decoder).getReader()
  const cancel = (): void => { reader.cancel().catch(() => {}) }
  signal?.addEventListener('abort', cancel)
  // The current line's text so far, in pieces: a line may be megabytes long (the first update of a
  // replica), and searching or joining everything received at each chunk would take quadratic time.
  let pieces: string[] = []
  let afterCr = false // the last chunk ended in \r: a \n starting the next one is the same line break
  let event = ''
  let data: string[] = []
  try {
    while (true) {
      const { value, done } = await reader.read()
      if (done) return
      onActivity()
      const text = afterCr && value.startsWith('\n') ? value.slice(1) : value
      afterCr = false
      const breaks = /\r\n|\n|\r/g
      let start = 0
      let found: RegExpExecArray | null
      while ((found = breaks.exec(text)) !== null) {
        pieces.push(text.slice(start, found.index))
        const line = pieces.length === 1 ? pieces[0] as string : pieces.join('')
        pieces = []
        start = found.index + found[0].length
        if (found[0] === '\r' && start === text.length) afterCr = true
        if (line === '') {
          if (data.length > 0) yield { event: event === '' ? 'message' : event, data: data.join('\n') }
          event = ''
          data = []
          continue
        }
        if (line.startsWith(':')) continue
        const colon = line.indexOf(':')
        const field = colon < 0 ? line : line.slice(0, colon)
        let fieldValue = colon < 0 ? '' : line.slice(colon + 1)
        if (fieldValue.startsWith(' ')) fieldValue = fieldValue.slice(1)
        if (field === 'event') event = fieldValue
        else if (field === 'data') data.push(fieldValue)
      }
      if (start < text.length) pieces.push(text.slice(start))
    }
  } finally {
    signal?.removeEventListener('abort', cancel)
    reader.releaseLock()
  }
}
