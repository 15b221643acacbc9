/** Server-Sent Events in tests: frames parsed from a text stream as it arrives. */
export interface SseEvent { event: string, data: string, id?: string }

/** Reads SSE frames from a text stream until `done` says so. */
export function parser (): { push: (chunk: string) => SseEvent[], comments: string[] } {
  let buffer = ''
  const comments: string[] = []
  return {
    comments,
    push: chunk => {
      buffer += chunk
      const out: SseEvent[] = []
      let end: number
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const e: SseEvent = { event: 'message', data: '' }
        for (const line of frame.split('\n')) {
          if (line.startsWith(':')) comments.push(line)
          else if (line.startsWith('event: ')) e.event = line.slice(7)
          else if (line.startsWith('data: ')) e.data += line.slice(6)
          else if (line.startsWith('id: ')) e.id = line.slice(4)
        }
        if (e.data !== '') out.push(e)
      }
      return out
    }
  }
}
