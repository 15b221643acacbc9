/**
 * Strict DER (X.690) ECDSA signatures -> 64-byte compact. For signers that only emit DER, such as
 * some secure elements. BER forms, padding, negative or oversized integers are refused.
 */
export function compactFromDer (der: Uint8Array): Uint8Array {
  const fail = (why: string): never => { throw new RangeError(`DER signature: ${why}`) }
  if (der.length < 8 || der.length > 72) fail(`expected 8 to 72 bytes, got ${der.length}`)
  if (der[0] !== 0x30) fail('expected a SEQUENCE')
  if (der[1] !== der.length - 2) fail('SEQUENCE length does not match')
  const out = new Uint8Array(64)
  let pos = 2
  for (let k = 0; k < 2; k++) {
    if (der[pos] !== 0x02) fail('expected an INTEGER')
    const len = der[pos + 1] as number
    if (len === 0 || len > 33 || (len & 0x80) !== 0) fail('bad INTEGER length')
    const start = pos + 2
    const end = start + len
    if (end > der.length) fail('INTEGER runs past the end')
    if (((der[start] as number) & 0x80) !== 0) fail('negative INTEGER')
    if (len > 1 && der[start] === 0 && ((der[start + 1] as number) & 0x80) === 0) fail('INTEGER has a needless leading zero')
    let value = der.subarray(start, end)
    if (value.length === 33) {
      if (value[0] !== 0) fail('INTEGER larger than 32 bytes')
      value = value.subarray(1)
    }
    out.set(value, k * 32 + 32 - value.length)
    pos = end
  }
  if (pos !== der.length) fail('trailing bytes after the SEQUENCE')
  return out
}
