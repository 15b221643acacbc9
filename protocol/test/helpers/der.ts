/** Strict DER encoding of a 64-byte compact ECDSA signature, as a secure element would emit it. */
export function derInteger (value: Uint8Array): Uint8Array {
  let start = 0
  while (start < value.length - 1 && value[start] === 0) start++
  let body = value.subarray(start)
  if (((body[0] as number) & 0x80) !== 0) body = Uint8Array.of(0, ...body)
  return Uint8Array.of(0x02, body.length, ...body)
}

export function derFromCompact (sig: Uint8Array): Uint8Array {
  if (sig.length !== 64) throw new RangeError('expected 64 bytes')
  const r = derInteger(sig.subarray(0, 32))
  const s = derInteger(sig.subarray(32))
  return Uint8Array.of(0x30, r.length + s.length, ...r, ...s)
}
