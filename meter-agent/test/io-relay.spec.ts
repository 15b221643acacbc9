/**
 * Relay drivers: the simulated one, and the GPIO one against a fake gpioset (fixtures/gpiod) that
 * takes only its generation's options and records what it was asked to set and when it let go.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { detectGpiodVersion, gpioRelay, simulatedRelay, type GpioRelayOptions, type RelayDriver } from '../src/io/relay.ts'
import { fakeGpiod, fakeTools, waitFor, type FakeGpiod } from './fixtures/gpiod/fake.ts'

let fake: FakeGpiod | undefined
let relay: RelayDriver | undefined
afterEach(async () => {
  await relay?.close()
  relay = undefined
  fake?.cleanup()
  fake = undefined
})

describe('simulatedRelay', () => {
  it('starts unknown, reports changes only, and is unknown after close', async () => {
    const changes: boolean[] = []
    const r = simulatedRelay({ onChange: on => changes.push(on) })
    expect(r.state).toBeNull()
    await r.set(false)
    await r.set(false)
    await r.set(true)
    expect(r.state).toBe(true)
    expect(changes).toEqual([false, true])
    await r.close()
    expect(r.state).toBeNull()
    await expect(r.set(true)).rejects.toThrow('relay.set: the relay is closed')
    await expect(simulatedRelay().set('on' as unknown as boolean)).rejects.toThrow(new TypeError('relay.set: on must be a boolean, got "on"'))
    expect(() => simulatedRelay({ onChange: 5 as unknown as () => void })).toThrow(/onChange must be a function/)
  })
})

/** The (line=value) sets and releases of gpioset, in order. */
const history = (f: FakeGpiod): string[] => f.records().filter(r => r[0] === 'gpioset' && (r[1] === 'set' || r[1] === 'release')).map(r => `${r[1]} ${r[2]}`)

describe.each([1, 2] as const)('gpioRelay with gpiod v%i', version => {
  const v1 = version === 1
  const make = (o: Partial<GpioRelayOptions> = {}): RelayDriver => (relay = gpioRelay({ line: 'GPIO27', tools: fakeTools, version, ...o }))

  it('holds the line at each state with one gpioset at a time, and releases it on close', async () => {
    fake = fakeGpiod(version)
    const r = make()
    expect(r.state).toBeNull()
    await r.set(true)
    expect(r.state).toBe(true)
    expect(history(fake)).toEqual(['set GPIO27=1'])
    await r.set(true) // already held: no new gpioset
    await r.set(false)
    expect(r.state).toBe(false)
    expect(history(fake)).toEqual(['set GPIO27=1', 'release GPIO27', 'set GPIO27=0'])
    if (v1) {
      expect(fake.starts('gpiofind')).toEqual([['GPIO27']]) // looked up once
      expect(fake.starts('gpioset')).toEqual([['--mode=wait', 'gpiochip0', '27=1'], ['--mode=wait', 'gpiochip0', '27=0']])
    } else {
      expect(fake.starts('gpioset')).toEqual([
        ['--banner', '--by-name', '--strict', '--consumer', 'microgrid-meter', 'GPIO27=1'],
        ['--banner', '--by-name', '--strict', '--consumer', 'microgrid-meter', 'GPIO27=0']
      ])
    }
    await r.close()
    expect(r.state).toBeNull()
    expect(history(fake).at(-1)).toBe('release GPIO27')
    await expect(r.set(true)).rejects.toThrow('relay.set: the relay is closed')
  })

  it('runs sets in call order', async () => {
    fake = fakeGpiod(version)
    const r = make()
    await Promise.all([r.set(true), r.set(false), r.set(true)])
    expect(r.state).toBe(true)
    expect(history(fake)).toEqual(['set GPIO27=1', 'release GPIO27', 'set GPIO27=0', 'release GPIO27', 'set GPIO27=1'])
  })

  it('drives a low-triggered relay board low for on', async () => {
    fake = fakeGpiod(version)
    const r = make({ activeHigh: false, chip: 'gpiochip0' })
    await r.set(true)
    await r.set(false)
    expect(history(fake)).toEqual(['set GPIO27=0', 'release GPIO27', 'set GPIO27=1'])
    if (v1) expect(fake.starts('gpioinfo')).toEqual([['gpiochip0']])
    else expect(fake.starts('gpioset')[0]).toContain('--chip')
  })

  it('detects the version from gpioset when not told', async () => {
    fake = fakeGpiod(version)
    const r = make({ version: undefined })
    await r.set(false)
    expect(fake.records()[0]!.slice(0, 2)).toEqual(['gpioset', 'version'])
    expect(fake.starts('gpioset')[0]![0]).toBe(v1 ? '--mode=wait' : '--banner')
  })

  it('rejects a set with gpioset\'s stderr and leaves the state unknown', async () => {
    fake = fakeGpiod(version)
    const r = make()
    await r.set(true)
    const busy = "unable to request lines on chip '/dev/gpiochip0': Device or resource busy"
    fake.set('FAKE_GPIOD_FAIL_GPIOSET', busy)
    await expect(r.set(false)).rejects.toThrow(`relay GPIO27: could not set it off: gpioset exited (exit code 1): gpioset: ${busy}`)
    expect(r.state).toBeNull()
    fake.set('FAKE_GPIOD_FAIL_GPIOSET', undefined)
    await r.set(false)
    expect(r.state).toBe(false)
  })

  it('rejects a set when gpioset is missing or the line is unknown', async () => {
    fake = fakeGpiod(version)
    await expect(make({ tools: { ...fakeTools, gpioset: '/nonexistent/gpioset' } }).set(true)).rejects.toThrow(
      'gpioset not found ("/nonexistent/gpioset"): install the Debian package "gpiod", or set tools.gpioset')
    await expect(make({ line: 'GPIO99' }).set(true)).rejects.toThrow(v1 ? 'no GPIO line named "GPIO99"' : "gpioset: cannot find line 'GPIO99'")
    expect(relay!.state).toBeNull()
  })

  it('tells onError when the holder dies after a good set, and the state becomes unknown', async () => {
    fake = fakeGpiod(version)
    fake.set('FAKE_GPIOD_DIE_AFTER', '0.4')
    const errors: Error[] = []
    const r = make({ onError: e => errors.push(e) })
    await r.set(true)
    expect(r.state).toBe(true)
    await waitFor(() => errors.length === 1, 5000, 'onError')
    expect(r.state).toBeNull()
    expect(errors[0]!.message).toBe('relay GPIO27: the line was released: gpioset exited (exit code 1): gpioset: unable to set values: lost the line')
    fake.set('FAKE_GPIOD_DIE_AFTER', undefined)
    await r.set(true) // the same state again: a new holder
    expect(r.state).toBe(true)
    expect(fake.starts('gpioset')).toHaveLength(2)
  })
})

describe('gpioRelay options', () => {
  it('names what is wrong', () => {
    const make = (o: object): unknown => gpioRelay({ line: 'GPIO27', ...o } as GpioRelayOptions)
    expect(() => make({ line: undefined })).toThrow(new TypeError('gpioRelay: line must be a GPIO line name such as "GPIO17", got undefined'))
    expect(() => make({ line: '27' })).toThrow(RangeError)
    expect(() => make({ activeHigh: 'yes' })).toThrow(new TypeError('gpioRelay: activeHigh must be a boolean, got "yes"'))
    expect(() => make({ settleMs: -5 })).toThrow(new RangeError('settleMs must be a finite number >= 0, got -5'))
    expect(() => make({ timeoutMs: 0 })).toThrow(/timeoutMs must be a finite number > 0/)
    expect(() => make({ onError: 'log' })).toThrow(/onError must be a function/)
    expect(() => make({ version: 0 })).toThrow(/version must be 1, 2 or 'auto'/)
  })

  it('rejects a non-boolean set', async () => {
    await expect(gpioRelay({ line: 'GPIO27' }).set(1 as unknown as boolean)).rejects.toThrow(TypeError)
  })

  it('re-exports detectGpiodVersion', () => {
    expect(typeof detectGpiodVersion).toBe('function')
  })
})
