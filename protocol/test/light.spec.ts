import { describe, expect, it } from 'vitest'
import * as dagCbor from '@ipld/dag-cbor'
import {
  decodeLightRequest, decodeLightResponse, encodeLight, generateKeyPair, keySigner, LIGHT_LIMITS, LightProtocolError, nobleVerifier,
  reportDigest, signReport, type LightRequest, type LightResponse
} from '@microgrid/protocol'

const key = (b: number): Uint8Array => Uint8Array.from({ length: 33 }, (_, i) => (i === 0 ? 2 : b))
const grid = new Uint8Array(32).fill(7)

describe('light protocol messages', () => {
  const requests: LightRequest[] = [
    { t: 'draft', grid, author: key(1), kind: 'burn' },
    { t: 'funds', grid, device: key(2), at: 1_767_225_600_000 },
    { t: 'submit', grid, ops: [new Uint8Array([1, 2, 3])] },
    { t: 'report', grid, device: key(2), report: { at: 5, relay: true, reason: 'window', usableWh: 1200, daysRemaining: 2.5, watts: 60, warnings: [5000], faults: [], queuedWh: 0 }, sig: new Uint8Array(64).fill(3) },
    { t: 'watch', grid, device: key(2), known: { balance: 1200, burned: 300 }, waitMs: 25_000 },
    { t: 'watch', grid, device: key(2), known: null, waitMs: 0 }
  ]
  const responses: LightResponse[] = [
    { t: 'draft', seq: 4, prev: new Uint8Array(32).fill(9), lastTs: 10, reading: 4000, deps: [[key(3), 2]], held: 3, settled: true, frozen: false },
    { t: 'funds', funds: { at: 1, registered: true, usableNow: 10, general: 5, burned: 3, balance: 12, nextChange: null, windows: [{ funder: key(4), from: 1, until: 9, remaining: 5, state: 'open', declared: false }], funders: [{ funder: key(4), put: 20, burned: 3, returned: 2, held: 15 }] } },
    { t: 'submitted', results: [{ id: new Uint8Array(32), status: 'rejected', code: 'insufficient-funds', reason: 'no' }] },
    { t: 'ok' },
    { t: 'error', message: 'another grid' }
  ]

  it('round-trips every request and response', () => {
    for (const r of requests) expect(decodeLightRequest(encodeLight(r))).toEqual(r)
    for (const r of responses) expect(decodeLightResponse(encodeLight(r))).toEqual(r)
  })

  it('refuses unknown types, missing or extra fields, wrong sizes and oversized messages, naming the field', () => {
    const bad = (value: unknown): Uint8Array => dagCbor.encode(value)
    expect(() => decodeLightRequest(bad({ t: 'mint' }))).toThrow(/message\.t/)
    expect(() => decodeLightRequest(bad({ t: 'draft', grid, author: key(1) }))).toThrow(/draft\.kind: missing/)
    expect(() => decodeLightRequest(bad({ t: 'draft', grid, author: key(1), kind: 'burn', extra: 1 }))).toThrow(/draft\.extra: no such field/)
    expect(() => decodeLightRequest(bad({ t: 'draft', grid: new Uint8Array(31), author: key(1), kind: 'burn' }))).toThrow(/draft\.grid/)
    expect(() => decodeLightRequest(bad({ t: 'funds', grid, device: key(2), at: -1 }))).toThrow(/funds\.at/)
    expect(() => decodeLightRequest(bad({ t: 'submit', grid, ops: Array.from({ length: LIGHT_LIMITS.maxOps + 1 }, () => new Uint8Array(1)) }))).toThrow(/submit\.ops/)
    expect(() => decodeLightRequest(bad({ t: 'watch', grid, device: key(2), known: null, waitMs: LIGHT_LIMITS.maxWaitMs + 1 }))).toThrow(/watch\.waitMs: at most/)
    expect(() => decodeLightRequest(bad({ t: 'watch', grid, device: key(2), known: { balance: 1 }, waitMs: 5 }))).toThrow(/watch\.known\.burned: missing/)
    expect(() => decodeLightRequest(new Uint8Array(LIGHT_LIMITS.maxMessageBytes + 1))).toThrow(LightProtocolError)
    expect(() => decodeLightRequest(Uint8Array.of(0xff))).toThrow(LightProtocolError)
    expect(() => decodeLightResponse(bad({ t: 'draft', seq: 1 }))).toThrow(LightProtocolError)
  })

  it('signs a report with the meter\'s key over its grid, device and content', () => {
    const meter = keySigner(generateKeyPair().secretKey)
    const report = { at: 5, relay: true, reason: 'funded', usableWh: 1200, daysRemaining: null, watts: 60, warnings: [], faults: [], queuedWh: 0 }
    const signed = signReport(meter, grid, report)
    const decoded = decodeLightRequest(encodeLight(signed)) as typeof signed
    expect(nobleVerifier.verify(decoded.sig, reportDigest(decoded.grid, decoded.device, decoded.report), meter.publicKey)).toBe(true)
    // Another relay state, another grid or another device: the signature no longer holds.
    expect(nobleVerifier.verify(decoded.sig, reportDigest(grid, meter.publicKey, { ...report, relay: false }), meter.publicKey)).toBe(false)
    expect(nobleVerifier.verify(decoded.sig, reportDigest(new Uint8Array(32), meter.publicKey, report), meter.publicKey)).toBe(false)
    expect(() => decodeLightRequest(dagCbor.encode({ t: 'report', grid, device: meter.publicKey, report }))).toThrow(/report\.sig: missing/)
  })
})

