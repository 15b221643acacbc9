/**
 * Chains by public key, without making a hex string for each lookup: an open-addressing table of
 * chain indices hashed from the key's bytes. Every op looks up its author, its deps and the keys in
 * its body, so this is on the path of every op applied. The hash is seeded per process, so keys
 * ground to collide in one table do not collide in another.
 */
const SEED = (globalThis.crypto?.getRandomValues(new Uint32Array(1))[0] ?? 0x9e3779b9) | 1

export class KeyIndex {
  /** Chain index + 1 per slot, 0 for an empty slot. */
  #slots = new Int32Array(1024)
  #mask = 1023
  #count = 0
  readonly #keyOf: (idx: number) => Uint8Array

  constructor (keyOf: (idx: number) => Uint8Array) {
    this.#keyOf = keyOf
  }

  /** The index stored for `key`, or -1. */
  get (key: Uint8Array): number {
    const slots = this.#slots
    const mask = this.#mask
    for (let i = hash(key) & mask; ; i = (i + 1) & mask) {
      const v = slots[i] as number
      if (v === 0) return -1
      if (same(this.#keyOf(v - 1), key)) return v - 1
    }
  }

  /** Adds `key` for a chain index (a key not in the table yet). */
  add (key: Uint8Array, idx: number): void {
    if ((this.#count + 1) * 2 > this.#slots.length) this.#grow()
    this.#place(key, idx)
    this.#count++
  }

  clear (): void {
    this.#slots.fill(0)
    this.#count = 0
  }

  #place (key: Uint8Array, idx: number): void {
    const slots = this.#slots
    const mask = this.#mask
    let i = hash(key) & mask
    while (slots[i] !== 0) i = (i + 1) & mask
    slots[i] = idx + 1
  }

  #grow (): void {
    const old = this.#slots
    this.#slots = new Int32Array(old.length * 2)
    this.#mask = this.#slots.length - 1
    for (const v of old) if (v !== 0) this.#place(this.#keyOf(v - 1), v - 1)
  }
}

function same (a: Uint8Array, b: Uint8Array): boolean {
  const n = a.length
  if (n !== b.length) return false
  for (let i = n - 1; i >= 0; i--) if (a[i] !== b[i]) return false
  return true
}

/** Seeded mix of up to 12 bytes after the first (a compressed key's first byte is 2 or 3; the rest is x). */
function hash (key: Uint8Array): number {
  let h = SEED ^ key.length
  const end = Math.min(key.length, 13)
  let word = 0
  let i = 1
  for (; i < end; i++) {
    word = (word << 8) | (key[i] as number)
    if ((i & 3) === 0) { h = Math.imul(h ^ word, 0x9e3779b1); h ^= h >>> 15; word = 0 }
  }
  if (key.length > 0) h = Math.imul(h ^ word ^ ((key[0] as number) << 24), 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}
