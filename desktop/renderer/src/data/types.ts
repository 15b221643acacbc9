// Shapes of the node API's read endpoints and action results (docs/API.md). The replica's maps hold
// exactly these objects.

export interface Currency { code: string, digits: number }

export interface Signer { name: string, account: string, roles: string[] }

export interface Status {
  peerId: string
  addresses?: string[]
  grid: { id: string, name: string, currency: Currency }
  peers: Array<{ id: string, addresses: string[] }>
  ops: { decided: number, pending: number }
  stateHash: string
  sync: { missing: number, lastPull: { peer: string, received: number, at: number } | null, target?: number | null }
  forks: number
  frozen: number
  supply: { mintedWh: number, burnedWh: number }
  signers: Signer[]
  time: number
  /** When the node last wrote the replica's status (ms); only in the replica. */
  updatedAt?: number
}

export type AccountRole =
  'producer' | 'generation-meter' | 'consumer' | 'utility' | 'registrar' | 'oracle' | 'resident'

export interface Account {
  id: string
  role: AccountRole
  roles: AccountRole[]
  label: string | null
  balanceWh: number
  spendableWh: number
  ops: number
  frozen: boolean
}

export interface Position { lat: number, lon: number }

export interface FundingWindow {
  funder: string
  from: number
  until: number
  remainingWh: number
  state: 'upcoming' | 'open' | 'ended'
  declared: boolean
}

export interface FunderShare { funder: string, putWh: number, burnedWh: number, returnedWh: number, heldWh: number }

export interface Funds {
  at: number
  usableNowWh: number
  generalWh: number
  balanceWh: number
  burnedWh: number
  nextChange: number | null
  windows: FundingWindow[]
  funders: FunderShare[]
}

export interface MeterReport {
  at: number
  relay: boolean
  reason: string
  usableWh: number
  daysRemaining: number | null
  watts: number
  warnings: number[]
  faults: string[]
  queuedWh: number
  peer: string
}

export type DeviceCategory = 'household' | 'street-light' | 'stadium' | 'public' | 'business' | 'other'

export interface Device {
  id: string
  label: string
  category: DeviceCategory
  position: Position | null
  qr: string
  frozen: boolean
  funds: Funds
  meter: MeterReport | null
}

export interface PriceValue { minorPerMWh: number, dollarsPerKWh: number }

export interface Price {
  account: string
  role: 'producer' | 'utility'
  label: string | null
  wholesale: PriceValue | null
  retail: PriceValue | null
}

export type SaleContract = 'retail-seller' | 'wholesale-seller'

export interface Receipt {
  oracle: string
  seq: number
  payer: string
  payee: string
  contract: SaleContract
  amountMinor: number
  amountDollars: number
  currency: string
  paymentId: string
  price: PriceValue | null
  wh: number | null
  ts: number
  ageMs: number
  settled: boolean
  settleable: boolean
  reason: string | null
  message: string | null
  mine: boolean | null
}

export interface Fork {
  author: string
  label: string | null
  seq: number
  ids: string[]
  ops: string[]
  lifted: boolean
}

export interface FrozenAccount { account: string, label: string | null, frozenFrom: number }

export type OpStatus = 'applied' | 'rejected' | 'duplicate' | 'pending' | 'frozen' | 'void' | 'dropped'

/** One entry of the replica's `recent` array: the `op` event of GET /events. */
export interface RecentOp {
  status: OpStatus
  id: string
  kind: string
  author: string
  seq: number
  ts: number
  code?: string
  reason?: string
}

export interface OpResult {
  status: OpStatus
  id: string
  kind: string
  author: string
  seq: number
  ts: number
  op?: string
  code?: string
  reason?: string
}

export interface FundResult extends OpResult { funds: Funds }

export interface PaymentResult {
  result: {
    paymentId: string
    oracle: string
    seq: number
    id: string
    duplicate: boolean
    result?: OpResult
  }
}

export interface HistoryEntry {
  cursor: string
  id: string
  kind: string
  author: string
  seq: number
  ts: number
  status: 'accepted' | 'rejected'
  deltaWh: number
  body: Record<string, unknown>
}

export interface HistoryPage { account: string, entries: HistoryEntry[], next: string | null }
