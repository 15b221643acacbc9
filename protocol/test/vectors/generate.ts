/**
 * Writes the frozen test vectors in this directory. Run ONCE:
 *
 *   npm exec -- node protocol/test/vectors/generate.ts
 *
 * The JSON files are the specification's ground truth: vectors.spec.ts rebuilds every op from them
 * and demands the same bytes, ids and signatures. Regenerating them after a change to the wire
 * format would hide the change, so this script refuses to overwrite existing vectors unless run
 * with `--force` (only for an intentional, versioned change of the format; never for the v1 set).
 *
 * A new version adds vectors as new files and leaves the frozen ones alone:
 *
 *   npm exec -- node protocol/test/vectors/generate.ts --only-new
 *
 * builds every vector, writes only the files that do not exist yet, and checks that each existing
 * file is exactly what it would have written: if a frozen vector would change, it writes nothing
 * and fails.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as dagCbor from '@ipld/dag-cbor'
import * as secp from '@noble/secp256k1'
import {
  accountId, decodeOp, deviceUri, encodeUnsignedOp, gridIdText, LIMITS, toHex, verifyOp, type GenesisBody, type UnsignedOp
} from '../../src/index.ts'
import * as cbor from '../helpers/cbor.ts'
import { derFromCompact } from '../helpers/der.ts'
import {
  forceSign, party, producer, registrar, sample, scenario, signedValue, stranger
} from '../helpers/fixtures.ts'

const here = dirname(fileURLToPath(import.meta.url))
const force = process.argv.includes('--force')
const onlyNew = process.argv.includes('--only-new')

if (force && onlyNew) {
  console.error('--force and --only-new exclude each other.')
  process.exit(1)
}
if (!force && !onlyNew && readdirSync(here).some(f => f.endsWith('.json'))) {
  console.error(`${here} already holds vectors; they are frozen. Pass --only-new to add new vectors, --force only for an intentional format change.`)
  process.exit(1)
}

/** JSON form of an op: byte strings as lower-case hex, everything else as is. */
function toJson (value: unknown): unknown {
  if (value instanceof Uint8Array) return toHex(value)
  if (Array.isArray(value)) return value.map(toJson)
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v)]))
  return value
}

/** Files to write, by name; written at the end, once every vector is built and every check passed. */
const outputs = new Map<string, string>()
function write (name: string, value: unknown): void {
  if (outputs.has(name)) throw new Error(`${name} written twice`)
  outputs.set(name, JSON.stringify(value, null, 2) + '\n')
}

// ---- valid vectors: one file per op ---------------------------------------------------------------

const { grid, samples } = scenario()
for (const s of samples) {
  const decoded = decodeOp(s.bytes)
  verifyOp(decoded)
  write(s.name, {
    name: s.name,
    description: s.description,
    signer: s.signer.name,
    secretKey: toHex(s.signer.secretKey),
    publicKey: toHex(s.signer.publicKey),
    accountId: accountId(s.signer.publicKey),
    gridId: gridIdText(s.op.grid ?? s.id),
    deviceUri: deviceUri({ account: s.signer.publicKey, grid: s.op.grid ?? s.id }),
    op: toJson(s.op),
    unsigned: toHex(encodeUnsignedOp(s.op)),
    id: toHex(s.id),
    sig: toHex(s.sig),
    sigDer: toHex(derFromCompact(s.sig)),
    wire: toHex(s.bytes)
  })
}

// ---- invalid vectors ------------------------------------------------------------------------------

interface Invalid {
  name: string
  description: string
  wire: string
  error: { type: 'OpDecodeError', field: string } | { type: 'SignatureError' }
}
const invalid: Invalid[] = []
const decodeError = (name: string, description: string, bytes: Uint8Array, field: string): void => {
  invalid.push({ name, description, wire: toHex(bytes), error: { type: 'OpDecodeError', field } })
}
const signatureError = (name: string, description: string, bytes: Uint8Array): void => {
  invalid.push({ name, description, wire: toHex(bytes), error: { type: 'SignatureError' } })
}

const mint = sample('mint')
const mintFirst = sample('mint-first')
const wholesale = sample('transfer-wholesale-seller')
const genesis = sample('genesis')
const entries = cbor.entriesOf(signedValue(mint))
const unsignedMint = mint.op as UnsignedOp & Record<string, unknown>

decodeError('map-order-bytewise',
  'The mint op with its envelope keys in plain bytewise order (author, body, ...) instead of shorter-first.',
  cbor.map([...entries].sort(([a], [b]) => (a < b ? -1 : 1))), 'op')
decodeError('body-keys-bytewise',
  'The mint body as {total, wh}: canonical order puts the shorter key "wh" first.',
  cbor.map(cbor.withEntry(entries, 'body', cbor.map([['total', cbor.uint(10_000)], ['wh', cbor.uint(4000)]]))), 'op')
decodeError('int-long-form',
  'seq 1 written as 0x18 0x01 instead of 0x01.',
  cbor.map(cbor.withEntry(entries, 'seq', cbor.uint(1, 1))), 'op')
decodeError('float-for-int',
  'ts written as a float64 with an integral value.',
  cbor.map(cbor.withEntry(entries, 'ts', cbor.float64(mint.op.ts))), 'op')
decodeError('float-fraction',
  'body.wh as the float64 4000.5.',
  cbor.map(cbor.withEntry(entries, 'body', cbor.map([['wh', cbor.float64(4000.5)], ['total', cbor.uint(10_000)]]))), 'op.body.wh')
decodeError('indefinite-length-map',
  'The mint body as an indefinite-length map (0xbf ... 0xff).',
  cbor.map(cbor.withEntry(entries, 'body', cbor.indefiniteMap([['wh', cbor.uint(4000)], ['total', cbor.uint(10_000)]]))), 'op')
decodeError('duplicate-key',
  'The envelope with the key "v" twice.',
  cbor.map([entries[0] as [string, Uint8Array], ...entries]), 'op')
decodeError('trailing-byte',
  'The mint op followed by one 0x00 byte.',
  cbor.concat(mint.bytes, Uint8Array.of(0)), 'op')
decodeError('undefined-for-null',
  'The first mint with prev as CBOR undefined (0xf7) instead of null (0xf6).',
  cbor.map(cbor.withEntry(cbor.entriesOf(signedValue(mintFirst)), 'prev', cbor.UNDEFINED)), 'op')
decodeError('tag-for-bytes',
  'grid as a tag-42 CID instead of a 32-byte byte string: no tags anywhere.',
  cbor.map(cbor.withEntry(entries, 'grid', cbor.tag(42, cbor.bstr(Uint8Array.of(0, 0x01, 0x71, 0x12, 0x20, ...grid))))), 'op.grid')

const resign = (fields: Record<string, unknown>, signer = mint.signer): Uint8Array => forceSign(fields, signer.secretKey).bytes
decodeError('version-2', 'v: 2, correctly signed.', resign({ ...unsignedMint, v: 2 }), 'op.v')
decodeError('unknown-kind', 'kind "vote", correctly signed.', resign({ ...unsignedMint, kind: 'vote' }), 'op.kind')
decodeError('unknown-field', 'An extra body field "note", correctly signed.', resign({ ...unsignedMint, body: { ...mint.op.body, note: 'x' } }), 'op.body.note')
decodeError('missing-field', 'No ts, correctly signed.', resign(Object.fromEntries(Object.entries(unsignedMint).filter(([k]) => k !== 'ts'))), 'op.ts')
decodeError('zero-wh', 'A mint of 0 Wh, correctly signed.', resign({ ...unsignedMint, body: { wh: 0, total: 10_000 } }), 'op.body.wh')
decodeError('genesis-with-grid', 'A genesis op naming a grid, correctly signed.', resign({ ...genesis.op, grid }, registrar), 'op.grid')
decodeError('prev-at-seq-0', 'The first mint with a prev, correctly signed.', resign({ ...mintFirst.op, prev: grid }), 'op.prev')
decodeError('deps-unsorted', 'The wholesale sale with its two deps in descending author order, correctly signed.',
  resign({ ...wholesale.op, deps: [...wholesale.op.deps].reverse() }, producer), 'op.deps')
decodeError('deps-self', 'A dep on the author\'s own chain, correctly signed.',
  resign({ ...wholesale.op, deps: [[producer.publicKey, 0]] }, producer), 'op.deps[0]')
decodeError('uncompressed-key-prefix', 'author with the prefix byte 0x04, correctly signed.',
  resign({ ...unsignedMint, author: Uint8Array.of(4, ...mint.op.author.subarray(1)) }), 'op.author')
decodeError('sig-63-bytes', 'sig one byte short.', cbor.map(cbor.withEntry(entries, 'sig', cbor.bstr(mint.sig.subarray(0, 63)))), 'op.sig')

// An op one byte over the limit: 64 deps and a long label on a transfer do not reach 4096 bytes,
// so this genesis carries the maximum number of keys and deps.
const keys = Array.from({ length: 32 }, (_, i) => party(`k${i}`, 0x40 + i).publicKey)
  .sort((a, b) => Buffer.compare(a, b))
const deps = Array.from({ length: 64 }, (_, i) => party(`d${i}`, 0x80 + i).publicKey)
  .sort((a, b) => Buffer.compare(a, b)).map((k): [Uint8Array, number] => [k, Number.MAX_SAFE_INTEGER])
let big: Uint8Array | undefined
for (let n = 1; n <= LIMITS.maxNameBytes && big === undefined; n++) {
  const bytes = resign({
    ...genesis.op, deps, body: { name: 'x'.repeat(n), currency: 'USD', registrars: keys, oracles: keys, policy: { friendlyCreditHours: [] } }
  }, registrar)
  if (bytes.length === LIMITS.maxOpBytes + 1) big = bytes
}
if (big === undefined) {
  // the size jumps over 4097 for this shape: trim deps until one byte over is reachable
  for (let d = 63; d > 0 && big === undefined; d--) {
    for (let n = 1; n <= LIMITS.maxNameBytes && big === undefined; n++) {
      const bytes = resign({
        ...genesis.op, deps: deps.slice(0, d), body: { name: 'x'.repeat(n), currency: 'USD', registrars: keys, oracles: keys, policy: { friendlyCreditHours: [] } }
      }, registrar)
      if (bytes.length === LIMITS.maxOpBytes + 1) big = bytes
    }
  }
}
if (big === undefined) throw new Error('could not build an op of maxOpBytes + 1 bytes')
decodeError('too-large', `A well-formed, correctly signed genesis op of ${LIMITS.maxOpBytes + 1} bytes (LIMITS.maxOpBytes + 1).`, big, 'op')

const sig = secp.Signature.fromBytes(mint.sig)
const twin = new secp.Signature(sig.r, secp.Point.CURVE().n - sig.s)
if (sig.hasHighS() || !twin.hasHighS()) throw new Error('expected a low-S signature')
const highS = twin.toBytes()
signatureError('high-s', 'The mint op with s replaced by n - s: the same ECDSA signature\'s malleable twin, refused.',
  cbor.map(cbor.withEntry(entries, 'sig', cbor.bstr(highS))))
signatureError('wrong-signer', 'The mint op signed by a key other than its author.', resign(unsignedMint, stranger))
signatureError('tampered-body', 'The mint op with body.wh changed to 4001 after signing.',
  cbor.map(cbor.withEntry(entries, 'body', dagCbor.encode({ wh: 4001, total: 10_000 }))))
signatureError('sig-prehashed-id', 'A signature over sha256(id) instead of over id itself (the signer hashed the id again), refused.',
  cbor.map(cbor.withEntry(entries, 'sig', cbor.bstr(secp.sign(mint.id, mint.signer.secretKey, { prehash: true, lowS: true })))))

write('invalid', invalid)

// ---- invalid vectors of v2, in their own file (invalid.json is frozen) ----------------------------

const invalidV2: Invalid[] = []
const decodeErrorV2 = (name: string, description: string, bytes: Uint8Array, field: string): void => {
  invalidV2.push({ name, description, wire: toHex(bytes), error: { type: 'OpDecodeError', field } })
}
const signatureErrorV2 = (name: string, description: string, bytes: Uint8Array): void => {
  invalidV2.push({ name, description, wire: toHex(bytes), error: { type: 'SignatureError' } })
}

const beacon = sample('v2-beacon')
const mintV2 = sample('v2-mint')
const genesisV2 = sample('v2-genesis')
const unsignedGenesisV2 = genesisV2.op as UnsignedOp & { body: GenesisBody }
const v2Policy = unsignedGenesisV2.body.policy
const withPolicy = (policy: Record<string, unknown>): Record<string, unknown> => ({ ...genesisV2.op, body: { ...unsignedGenesisV2.body, policy } })
const withoutInterval = { friendlyCreditHours: v2Policy.friendlyCreditHours, mintSlackMs: v2Policy.mintSlackMs }
const withoutSlack = { friendlyCreditHours: v2Policy.friendlyCreditHours, beaconIntervalMs: v2Policy.beaconIntervalMs }

decodeErrorV2('version-3', 'The v2 mint with v: 3, correctly signed: a version this decoder does not know.',
  resign({ ...mintV2.op, v: 3 }), 'op.v')
decodeErrorV2('version-0', 'The v2 mint with v: 0, correctly signed.', resign({ ...mintV2.op, v: 0 }), 'op.v')
decodeErrorV2('v1-beacon', 'The registrar\'s beacon as a v1 op, correctly signed: v1 has no kind beacon.',
  resign({ ...beacon.op, v: 1 }, registrar), 'op.kind')
decodeErrorV2('v1-genesis-v2-policy', 'The v1 genesis op with the v2 policy fields, correctly signed: a v1 policy is exactly { friendlyCreditHours }.',
  resign({ ...genesis.op, body: { ...(genesis.op.body as GenesisBody), policy: { ...(genesis.op.body as GenesisBody).policy, beaconIntervalMs: 60_000, mintSlackMs: 180_000 } } }, registrar),
  'op.body.policy.beaconIntervalMs')
decodeErrorV2('v2-genesis-v1-policy', 'The v2 genesis op with a v1 policy (friendlyCreditHours only), correctly signed.',
  resign(withPolicy({ friendlyCreditHours: v2Policy.friendlyCreditHours }), registrar), 'op.body.policy.beaconIntervalMs')
decodeErrorV2('v2-genesis-no-beacon-interval', 'The v2 genesis op without policy.beaconIntervalMs, correctly signed.',
  resign(withPolicy(withoutInterval), registrar), 'op.body.policy.beaconIntervalMs')
decodeErrorV2('v2-genesis-no-mint-slack', 'The v2 genesis op without policy.mintSlackMs, correctly signed.',
  resign(withPolicy(withoutSlack), registrar), 'op.body.policy.mintSlackMs')
decodeErrorV2('beacon-interval-999', 'The v2 genesis op with policy.beaconIntervalMs 999: at least 1000 ms.',
  resign(withPolicy({ ...v2Policy, beaconIntervalMs: 999 }), registrar), 'op.body.policy.beaconIntervalMs')
decodeErrorV2('mint-slack-negative', 'The v2 genesis op with policy.mintSlackMs -1 (CBOR major type 1).',
  resign(withPolicy({ ...v2Policy, mintSlackMs: -1 }), registrar), 'op.body.policy.mintSlackMs')
decodeErrorV2('v2-policy-unknown-field', 'The v2 genesis op with a policy field v2 does not have, correctly signed.',
  resign(withPolicy({ ...v2Policy, creditLimit: 5 }), registrar), 'op.body.policy.creditLimit')
decodeErrorV2('beacon-body-key', 'A beacon whose body is { note: "x" }: a beacon body is exactly the empty map.',
  resign({ ...beacon.op, body: { note: 'x' } }, registrar), 'op.body.note')
decodeErrorV2('beacon-body-null', 'A beacon whose body is null instead of the empty map.',
  resign({ ...beacon.op, body: null }, registrar), 'op.body')
decodeErrorV2('beacon-without-grid', 'A beacon with grid null: only a genesis op has no grid.',
  resign({ ...beacon.op, grid: null }, registrar), 'op.grid')
decodeErrorV2('beacon-body-long-map-head', 'The beacon with its empty body written as b8 00 instead of a0.',
  cbor.map(cbor.withEntry(cbor.entriesOf(signedValue(beacon)), 'body', Uint8Array.of(0xb8, 0x00))), 'op')
signatureErrorV2('beacon-wrong-signer', 'The registrar\'s beacon signed by another key.', resign({ ...beacon.op }, stranger))
signatureErrorV2('v2-genesis-tampered-policy', 'The v2 genesis op with policy.mintSlackMs changed to 0 after signing.',
  cbor.map(cbor.withEntry(cbor.entriesOf(signedValue(genesisV2)), 'body',
    dagCbor.encode({ ...unsignedGenesisV2.body, policy: { ...v2Policy, mintSlackMs: 0 } }))))

write('invalid-v2', invalidV2)

// ---- write: everything, or only what is new -------------------------------------------------------

let unchanged = 0
const written: string[] = []
if (onlyNew) {
  for (const [name, text] of outputs) {
    const file = join(here, `${name}.json`)
    if (existsSync(file) && readFileSync(file, 'utf8') !== text) {
      console.error(`${file} is frozen, and this script would now write it differently: the format changed. Nothing written.`)
      process.exit(1)
    }
  }
}
for (const [name, text] of outputs) {
  const file = join(here, `${name}.json`)
  if (existsSync(file)) {
    if (onlyNew) {
      unchanged++
      continue
    }
    if (!force) throw new Error(`${file} exists`)
  }
  writeFileSync(file, text)
  written.push(name)
}
console.log(`wrote ${written.length} files (${written.join(', ') || 'none'}) to ${here}; ${unchanged} existing files are unchanged`)
