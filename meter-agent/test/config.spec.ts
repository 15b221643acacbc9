/**
 * The meter's config file: a whole config is read with its defaults, and a setting the agent cannot
 * use is refused by name before anything starts.
 */
import { describe, expect, it } from 'vitest'
import { ConfigError, parseConfig } from '../src/config.ts'

const BASE = '/etc/microgrid-meter'
const minimal = { role: 'consumption', keyFile: 'meter.key', genesis: 'genesis.cbor', nodes: ['/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWExample'], pulsesPerKwh: 1000 }

describe('parseConfig', () => {
  it('reads a minimal config with its defaults, paths resolved from the config\'s folder', () => {
    const c = parseConfig(minimal, BASE)
    expect(c.keyFile).toBe('/etc/microgrid-meter/meter.key')
    expect(c.whPerOp).toBe(1000)
    expect(c.maxPowerW).toBe(25_000)
    expect(c.timing.saveEveryPulses).toBe(10)
    expect(c.input).toEqual({ source: 'simulated' })
  })

  it('takes any whole number of Wh per op, and refuses a fraction or less than 1 Wh by name', () => {
    expect(parseConfig({ ...minimal, whPerOp: 10 }, BASE).whPerOp).toBe(10)
    expect(parseConfig({ ...minimal, whPerOp: 50_000 }, BASE).whPerOp).toBe(50_000)
    expect(() => parseConfig({ ...minimal, whPerOp: 2.5 }, BASE)).toThrow(new ConfigError('config.whPerOp: expected a whole number ≥ 1, got 2.5'))
    expect(() => parseConfig({ ...minimal, whPerOp: 0 }, BASE)).toThrow(new ConfigError('config.whPerOp: expected a number ≥ 1'))
    expect(() => parseConfig({ ...minimal, whPerOp: '10' }, BASE)).toThrow(ConfigError)
  })

  it('refuses a fractional pulse count between saves', () => {
    expect(() => parseConfig({ ...minimal, timing: { saveEveryPulses: 1.5 } }, BASE)).toThrow(new ConfigError('config.timing.saveEveryPulses: expected a whole number ≥ 1, got 1.5'))
  })

  it('refuses a setting it does not know', () => {
    expect(() => parseConfig({ ...minimal, whPerOps: 10 }, BASE)).toThrow(/config\.whPerOps: no such setting/)
  })
})
