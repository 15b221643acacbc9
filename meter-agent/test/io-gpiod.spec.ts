/** The gpiod tool layer: version detection, argument builders and output parsers for v1 and v2. */
import { afterEach, describe, expect, it } from 'vitest'
import {
  checkGpioOptions, detectGpiodVersion, findLineV1, gpiomonArgs, gpiosetArgs, parseEdgeLine, parseGpiodVersion, parseGpioinfoV1
} from '../src/io/gpiod.ts'
import { fakeGpiod, fakeTools, type FakeGpiod } from './fixtures/gpiod/fake.ts'

let fake: FakeGpiod | undefined
afterEach(() => { fake?.cleanup(); fake = undefined })

describe('gpiod version', () => {
  it('reads the major version from --version output', () => {
    expect(parseGpiodVersion('gpiomon (libgpiod) v1.6.3\nCopyright (C) 2017-2018 Bartosz Golaszewski\n')).toBe(1)
    expect(parseGpiodVersion('gpioset (libgpiod) v2.1.3\nCopyright (C) 2017-2023 Bartosz Golaszewski\n')).toBe(2)
    expect(parseGpiodVersion('gpiomon (libgpiod) v2.2-rc1\n')).toBe(2)
    expect(() => parseGpiodVersion('gpiomon (libgpiod) v3.0.0')).toThrow(/libgpiod v3 is not supported .*pass version: 1 or 2/)
    expect(() => parseGpiodVersion('hello')).toThrow(/cannot tell the libgpiod version from "hello"/)
  })

  it.each([1, 2] as const)('detects v%i from the tool itself', async v => {
    fake = fakeGpiod(v)
    expect(await detectGpiodVersion(fakeTools)).toBe(v)
    expect(await detectGpiodVersion(fakeTools, 'gpioset')).toBe(v)
    expect(fake.records().map(r => r.slice(0, 2))).toEqual([['gpiomon', 'version'], ['gpioset', 'version']])
  })

  it('fails clearly when the tool is missing or says something else', async () => {
    fake = fakeGpiod(2)
    await expect(detectGpiodVersion({ gpiomon: '/nonexistent/gpiomon' })).rejects.toThrow(
      'gpiomon not found ("/nonexistent/gpiomon"): install the Debian package "gpiod", or set tools.gpiomon')
    fake.set('FAKE_GPIOD_VERSION_OUTPUT', 'gpiomon 0.1 (busybox)')
    await expect(detectGpiodVersion(fakeTools)).rejects.toThrow(/cannot tell the libgpiod version from "gpiomon 0.1 \(busybox\)"/)
  })
})

describe('line lookup by name (v1: gpiofind, or gpioinfo on a given chip)', () => {
  it('finds the chip and offset of a name', async () => {
    fake = fakeGpiod(1)
    expect(await findLineV1(fakeTools, 'GPIO17')).toEqual({ chip: 'gpiochip0', offset: 17 })
    expect(await findLineV1(fakeTools, 'BT_ON')).toEqual({ chip: 'gpiochip1', offset: 0 })
    expect(await findLineV1(fakeTools, 'GPIO27', 'gpiochip0')).toEqual({ chip: 'gpiochip0', offset: 27 })
    expect(fake.records().map(r => r.slice(0, 3))).toEqual([['gpiofind', 'start', 'GPIO17'], ['gpiofind', 'start', 'BT_ON'], ['gpioinfo', 'start', 'gpiochip0']])
  })

  it('follows the name when the chip is renumbered (the Pi 5 header moved from gpiochip4 to gpiochip0)', async () => {
    fake = fakeGpiod(1)
    fake.set('FAKE_GPIOD_LINES', 'gpiochip4:17:GPIO17')
    expect(await findLineV1(fakeTools, 'GPIO17')).toEqual({ chip: 'gpiochip4', offset: 17 })
    fake.set('FAKE_GPIOD_LINES', 'gpiochip0:17:GPIO17 gpiochip4:3:OTHER')
    expect(await findLineV1(fakeTools, 'GPIO17')).toEqual({ chip: 'gpiochip0', offset: 17 })
  })

  it('says which name it could not find', async () => {
    fake = fakeGpiod(1)
    await expect(findLineV1(fakeTools, 'GPIO99')).rejects.toThrow('no GPIO line named "GPIO99" (gpiofind found none)')
    await expect(findLineV1(fakeTools, 'BT_ON', 'gpiochip0')).rejects.toThrow('no GPIO line named "BT_ON" on chip gpiochip0 (gpioinfo gpiochip0)')
    await expect(findLineV1(fakeTools, 'GPIO17', 'gpiochip9')).rejects.toThrow(/gpioinfo gpiochip9 failed \(exit code 1\): gpioinfo: looking up chip gpiochip9/)
  })

  it('parses v1 gpioinfo rows', () => {
    const out = 'gpiochip0 - 3 lines:\n\tline   4:     "GPIO4"       unused   input  active-high\n' +
      '\tline  17:    "GPIO17"   "gpiomon"   input  active-high [used]\n\tline  18:      unnamed       unused   input  active-high\n'
    expect(parseGpioinfoV1(out, 'GPIO17')).toEqual([17])
    expect(parseGpioinfoV1(out, 'unnamed')).toEqual([])
  })
})

describe('argument builders', () => {
  const v1 = { line: 'GPIO17', chip: 'gpiochip0', offset: 17 }
  it('gpiomon v1: line-buffered, numeric format, chip and offset', () => {
    expect(gpiomonArgs(1, v1)).toEqual(['--line-buffered', '--format=%e %s %n', 'gpiochip0', '17'])
    expect(gpiomonArgs(1, { ...v1, activeLow: true, bias: 'disabled', consumer: 'ignored' }))
      .toEqual(['--line-buffered', '--format=%e %s %n', '--active-low', '--bias=disable', 'gpiochip0', '17'])
    expect(() => gpiomonArgs(1, { line: 'GPIO17' })).toThrow(/needs the line resolved/)
  })
  it('gpiomon v2: banner, lines by name, chip only when given', () => {
    expect(gpiomonArgs(2, { line: 'GPIO17', consumer: 'meter' })).toEqual(['--banner', '--by-name', '--strict', '--consumer', 'meter', '--format=%E %S', 'GPIO17'])
    expect(gpiomonArgs(2, { line: 'GPIO17', chip: 'gpiochip0', activeLow: true, bias: 'pull-up' }))
      .toEqual(['--banner', '--by-name', '--strict', '--chip', 'gpiochip0', '--format=%E %S', '--active-low', '--bias=pull-up', 'GPIO17'])
  })
  it('gpioset: v1 --mode=wait <chip> <offset>=<v>; v2 --banner <name>=<v>', () => {
    expect(gpiosetArgs(1, { ...v1, value: 1 })).toEqual(['--mode=wait', 'gpiochip0', '17=1'])
    expect(gpiosetArgs(2, { line: 'GPIO27', value: 0, consumer: 'meter' })).toEqual(['--banner', '--by-name', '--strict', '--consumer', 'meter', 'GPIO27=0'])
  })
})

describe('parseEdgeLine', () => {
  it('reads both versions, custom and default formats', () => {
    expect(parseEdgeLine('1 1234 5000000')).toEqual({ level: 1, tsMs: 1234005 }) // v1 %e %s %n
    expect(parseEdgeLine('0 1234 5')).toEqual({ level: 0, tsMs: 1234000.000005 })
    expect(parseEdgeLine('rising 1234.005000000')).toEqual({ level: 1, tsMs: 1234005 }) // v2 %E %S
    expect(parseEdgeLine('falling 1234.005000000')).toEqual({ level: 0, tsMs: 1234005 })
    expect(parseEdgeLine('2 1234.005000000')).toEqual({ level: 0, tsMs: 1234005 }) // v2 %e: 2 is falling
    expect(parseEdgeLine('event:  RISING EDGE offset: 17 timestamp: [    1234.005000000]')).toEqual({ level: 1, tsMs: 1234005 })
    expect(parseEdgeLine('event: FALLING EDGE offset: 17 timestamp: [    1234.005000000]')).toEqual({ level: 0, tsMs: 1234005 })
    expect(parseEdgeLine('1234.005000000\trising\t"GPIO17"')).toEqual({ level: 1, tsMs: 1234005 })
    expect(parseEdgeLine('1234.005000000\tfalling\tgpiochip0 17 "GPIO17"')).toEqual({ level: 0, tsMs: 1234005 })
    expect(parseEdgeLine("Monitoring line 'GPIO17'...")).toBeUndefined()
    expect(parseEdgeLine('')).toBeUndefined()
  })
})

describe('GPIO option checks', () => {
  it('insists on a line NAME and names every bad option', () => {
    const check = (o: object): void => checkGpioOptions('gpioSource', o)
    expect(() => check({ line: 17 })).toThrow(new TypeError('gpioSource: line must be a GPIO line name such as "GPIO17", got 17'))
    expect(() => check({ line: '17' })).toThrow(RangeError)
    expect(() => check({ line: '17' })).toThrow(/not an offset \(17\): offsets and chip numbers change/)
    expect(() => check({ line: 'GPIO17=1' })).toThrow(/must not contain/)
    expect(() => check({ line: 'GPIO17', chip: 4 })).toThrow(/chip must be a chip name, number or path such as "gpiochip0", got 4/)
    expect(() => check({ line: 'GPIO17', version: 3 })).toThrow(new RangeError("gpioSource: version must be 1, 2 or 'auto', got 3"))
    expect(() => check({ line: 'GPIO17', bias: 'up' })).toThrow(/bias must be one of pull-up, pull-down, disabled, got "up"/)
    expect(() => check({ line: 'GPIO17', tools: { gpioget: '/bin/true' } })).toThrow(/tools\.gpioget is not a gpiod tool/)
    expect(() => check({ line: 'GPIO17', tools: { gpiomon: '' } })).toThrow(/tools\.gpiomon must be a path/)
    expect(() => check({ line: 'GPIO17', consumer: 'a b' })).toThrow(/consumer must be/)
    expect(() => check({ line: 'GPIO17', chip: 'gpiochip0', version: 'auto', bias: 'pull-down', tools: fakeTools })).not.toThrow()
  })
})
