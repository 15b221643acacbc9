// The replica's accounts, devices and receipts as the node writes them (slim: docs/API.md, "POST /replica",
// "The doc") and their expansion into the read endpoints' shapes the pages take. A field the doc holds is
// taken as it is; the expanders only fill in what it omits.
import type * as Y from 'yjs'
import { majorPerKWh, majorUnits, whForPayment } from './format.ts'
import { deviceQr } from './qr.ts'
import type { Account, Currency, Device, Funds, Receipt, Status } from './types.ts'

/** What the expanders read from the doc's status: the grid's id and currency, and the node's clock. */
export interface DocFacts { grid: string, currency: Currency, time: number }

export function docFacts (doc: Y.Doc): DocFacts {
  const status = doc.getMap<unknown>('status')
  const grid = status.get('grid') as Status['grid'] | undefined
  const time = status.get('time') as number | undefined
  return { grid: grid?.id ?? '', currency: grid?.currency ?? { code: 'USD', digits: 2 }, time: time ?? 0 }
}

/** An account in the doc: no `id` (the key) or `role` (the first of `roles`); no null `label`, no false `frozen`. */
export type StoredAccount = Omit<Account, 'id' | 'role' | 'label' | 'frozen'> & Partial<Pick<Account, 'id' | 'role' | 'label' | 'frozen'>>

export function expandAccount (id: string, stored: StoredAccount): Account {
  return { id, role: stored.roles[0] ?? 'resident', label: null, frozen: false, ...stored }
}

/** A device's funds in the doc: no null `nextChange`, no empty `windows` or `funders`. */
export type StoredFunds = Omit<Funds, 'nextChange' | 'windows' | 'funders'> & Partial<Pick<Funds, 'nextChange' | 'windows' | 'funders'>>

/** A device in the doc: no `id` (the key) or `qr` (made from the id and the grid id); no null `position` or `meter`, no false `frozen`. */
export type StoredDevice = Omit<Device, 'id' | 'qr' | 'position' | 'frozen' | 'meter' | 'funds'> &
  Partial<Pick<Device, 'id' | 'qr' | 'position' | 'frozen' | 'meter'>> & { funds: StoredFunds }

export function expandDevice (id: string, stored: StoredDevice, facts: DocFacts): Device {
  return {
    id,
    qr: deviceQr(id, facts.grid),
    position: null,
    frozen: false,
    meter: null,
    ...stored,
    funds: { nextChange: null, windows: [], funders: [], ...stored.funds }
  }
}

/**
 * A receipt in the doc: its price as `minorPerMWh` (none when null), from which, with the grid's currency,
 * come `price`, `wh`, `amountDollars` and `currency`; no `ageMs` (the node's `time` less `ts`); no false
 * `settleable`, no null `reason`, `message` or `mine`.
 */
export type StoredReceipt = Omit<Receipt, 'amountDollars' | 'currency' | 'price' | 'wh' | 'ageMs' | 'settleable' | 'reason' | 'message' | 'mine'> &
  Partial<Pick<Receipt, 'amountDollars' | 'currency' | 'price' | 'wh' | 'ageMs' | 'settleable' | 'reason' | 'message' | 'mine'>> &
  { minorPerMWh?: number }

export function expandReceipt (stored: StoredReceipt, facts: DocFacts): Receipt {
  const { minorPerMWh, ...fields } = stored
  const { currency, time } = facts
  return {
    amountDollars: majorUnits(stored.amountMinor, currency),
    currency: currency.code,
    price: minorPerMWh === undefined ? null : { minorPerMWh, dollarsPerKWh: majorPerKWh(minorPerMWh, currency) },
    wh: minorPerMWh === undefined ? null : whForPayment(stored.amountMinor, minorPerMWh),
    ageMs: Math.max(0, time - stored.ts),
    settleable: false,
    reason: null,
    message: null,
    mine: null,
    ...fields
  }
}
