/**
 * Backpressure for a stream read through `lpStream`. libp2p's byte stream buffers whatever arrives and
 * aborts past its buffer size rather than pausing, and the muxer keeps granting the sender window while
 * the buffer grows. This counts the bytes that arrive and the bytes read (each message and its varint
 * length prefix), pauses the stream once more than `limit` bytes have arrived unread (the muxer then
 * stops granting window), and resumes it when a read might need more. With `limit` above the largest
 * message, a paused stream always holds a whole one, so a read never waits on a paused stream.
 */
import type { Stream } from '@libp2p/interface'

/** The parts of a libp2p stream the read-ahead uses. */
export type ReadAheadStream = Pick<Stream, 'addEventListener' | 'readStatus' | 'pause' | 'resume'>

export interface ReadAhead {
  /** Call before each read. */
  reading: () => void
  /** Call after each read with the message's length. */
  consumed: (length: number) => void
}

export function readAhead (stream: ReadAheadStream, limit: number): ReadAhead {
  let received = 0
  let read = 0
  let resuming = false
  const pauseIfAhead = (): void => {
    if (received - read > limit && stream.readStatus === 'readable') stream.pause()
  }
  stream.addEventListener('message', evt => {
    received += evt.data.byteLength
    // Not from inside `resume()`: it hands over what arrived while paused and only then tells the
    // muxer to grant window again, which would undo a pause made meanwhile (the stream would stay
    // paused with the sender granted window on every frame, and its buffer would grow unbounded).
    if (!resuming) pauseIfAhead()
  })
  return {
    reading: () => {
      if (stream.readStatus !== 'paused' || received - read > limit) return
      resuming = true
      try {
        stream.resume()
      } finally {
        resuming = false
      }
      pauseIfAhead() // what had arrived while paused may take it past the limit again
    },
    consumed: length => { read += length + varintLength(length) }
  }
}

/** Bytes of the unsigned varint that prefixes a message of `n` bytes. */
export function varintLength (n: number): number {
  let bytes = 1
  while (n >= 0x80) { n = Math.floor(n / 0x80); bytes++ }
  return bytes
}
