import { it, expect } from 'vitest'
import { decodeOp, keySigner, signOp, type UnsignedOp } from '@microgrid/protocol'
import { LedgerState, draftOp, nativeSigner, stateHash } from '@microgrid/core'
import { Island, seededRandom } from '@microgrid/core/testing'

it('speed', () => {
  for (const native of [false, true]) {
    const t0 = performance.now()
    const isl = new Island({ producers: 2, households: 2, streetLights: 1, residents: 3, seed: 'x' + native, signerFor: native ? sk => nativeSigner(sk) ?? keySigner(sk) : undefined })
    isl.simulate(300, seededRandom(7))
    const t1 = performance.now()
    const s = new LedgerState(decodeOp(isl.genesis))
    const dec = isl.ops.map(decodeOp)
    const t2 = performance.now()
    for (const d of [...dec].reverse()) s.add(d)
    const t3 = performance.now()
    console.log(native, 'build', t1 - t0, 'decode', t2 - t1, 'apply', t3 - t2, s.pendingCount, stateHash(s) === stateHash(isl.state))
  }
})

it('stale registrar deps let a device transfer', () => {
  const isl = new Island({ producers: 1, households: 1, residents: 1, seed: 'stale' })
  const [p] = isl.producers; const [r] = isl.residents; const [t] = isl.devices
  for (let i = 0; i < 6; i++) isl.mint(p!)
  console.log(isl.sellWholesale(p!, 40).status)
  console.log(isl.sellRetail(r!, 30).status)
  const d = isl.addDevice('household')
  console.log(isl.fund(r!, d, 2000).status)
  const u = draftOp(isl.state, d.meter.publicKey, 'transfer', { contract: 'resident', to: t!.meter.publicKey, wh: 2000, receipt: null, window: null }, isl.clock) as UnsignedOp
  const reg = isl.state.chain(isl.registrar.publicKey)
  const regT = isl.state.registrationOf(t!.meter.publicKey)!.seq
  console.log(u.deps.map(([k, s]) => [Buffer.from(k).toString('hex').slice(0, 6), s]), 'regT', regT, 'reghead', reg.length - 1)
  const deps = u.deps.map(([k, s]) => Buffer.from(k).equals(Buffer.from(isl.registrar.publicKey)) ? [k, regT] as const : [k, s] as const)
  const { bytes } = signOp({ ...u, deps } as UnsignedOp, d.meter)
  const before = isl.state.balance(d.meter.publicKey)
  const res = isl.state.add(decodeOp(bytes))
  console.log(res.status, 'code' in res ? res.code : '', before, isl.state.balance(d.meter.publicKey), isl.state.balance(t!.meter.publicKey))
})
