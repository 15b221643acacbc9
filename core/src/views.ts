/**
 * Read-only queries over a LedgerState, in the words a meter agent and a UI need. Nothing here is a
 * rule: rules read the causal past (contracts/), views read the whole replica.
 */
import type { PublicKey } from '@microgrid/protocol'
import type { Chain } from './chain.ts'
import { creditAmount, creditsUpTo } from './credits.ts'
import type { LedgerState } from './state.ts'

export interface FundingView {
  funder: PublicKey
  from: number
  until: number
  /** Wh of this window not burned yet. */
  remaining: number
  /** Relative to the time asked about: not open yet, open, or ended (what is left returns to the funder when the meter next signs). */
  state: 'upcoming' | 'open' | 'ended'
  /** Whether the meter's chain has cited it yet (it will with its next op). */
  declared: boolean
}

export interface FunderView {
  funder: PublicKey
  /** Everything this funder gave the device, cited by the meter or not. */
  put: number
  burned: number
  /** What came back to the funder from windows that closed. */
  returned: number
  /** What of it is still in the device (general funds and windows). */
  held: number
}

export interface DeviceFundsView {
  device: PublicKey
  at: number
  /** Whether a registrar registered the key as a consumer device. */
  registered: boolean
  /** What the meter may burn at `at`: general funds and open windows, including credits its next op will cite. */
  usableNow: number
  /** Unwindowed funds: burn-only, for good. */
  general: number
  /** Windows not closed yet, earliest end first. */
  windows: FundingView[]
  funders: FunderView[]
  /** Wh the device burned. */
  burned: number
  balance: number
  /** The next time the funds usable change by the clock alone (a window opens or ends), or null. */
  nextChange: number | null
}

/**
 * A device's funding at time `at`, as its meter agent and the UI show it: funds usable now, windows to
 * come, and what each funder put in, burned and got back. Credits given to the device that its meter
 * has not cited yet count (its next op cites them).
 */
export function fundsOf (state: LedgerState, device: PublicKey, at: number): DeviceFundsView {
  const chain = state.findChain(device)
  const keyOf = (idx: number): PublicKey => (state.chains[idx] as Chain).key
  const view: DeviceFundsView = {
    device, at, registered: state.isDevice(device), usableNow: 0, general: 0, windows: [], funders: [], burned: chain?.burned ?? 0, balance: chain?.balance ?? 0, nextChange: null
  }
  if (chain === undefined) return view
  const funders = new Map<number, FunderView>()
  const funder = (idx: number): FunderView => {
    let f = funders.get(idx)
    if (f === undefined) funders.set(idx, f = { funder: keyOf(idx), put: 0, burned: 0, returned: 0, held: 0 })
    return f
  }
  const stateAt = (from: number, until: number): FundingView['state'] => at < from ? 'upcoming' : at < until ? 'open' : 'ended'
  if (chain.funds !== null) {
    for (const [idx, a] of chain.funds.funders) {
      const f = funder(idx)
      f.put += a.put
      f.burned += a.burned
      f.returned += a.returned
      f.held += a.general
      view.general += a.general
    }
    for (const w of chain.funds.windows) {
      funder(w.funder).held += w.remaining
      view.windows.push({ funder: keyOf(w.funder), from: w.from, until: w.until, remaining: w.remaining, state: stateAt(w.from, w.until), declared: true })
    }
  }
  // Credits the meter has not cited yet.
  for (const idx of chain.creditors) {
    const list = (state.chains[idx] as Chain).credits.get(chain.idx)
    if (list === undefined) continue
    const e = list.entries
    for (let i = creditsUpTo(e, chain.frontier.get(idx) ?? -1); i < e.length / 2; i++) {
      const wh = creditAmount(e, i)
      const f = funder(idx)
      f.put += wh
      f.held += wh
      const window = list.windows?.get(i)
      if (window === undefined) view.general += wh
      else view.windows.push({ funder: keyOf(idx), from: window.from, until: window.until, remaining: wh, state: stateAt(window.from, window.until), declared: false })
    }
  }
  view.windows.sort((a, b) => a.until - b.until || a.from - b.from)
  view.usableNow = view.general + view.windows.filter(w => w.state === 'open').reduce((sum, w) => sum + w.remaining, 0)
  for (const w of view.windows) {
    for (const t of [w.from, w.until]) if (t > at && (view.nextChange === null || t < view.nextChange)) view.nextChange = t
  }
  view.funders = [...funders.values()]
  return view
}
