// The node's HTTP API (docs/API.md) over fetch with the bearer token. Failures throw ApiError with the
// API's error code and message, or code `unreachable` when the node does not answer.
import { connection } from './connection.ts'
import type { FundResult, HistoryPage, OpResult, PaymentResult, SaleContract } from './types.ts'

export class ApiError extends Error {
  static override name = 'ApiError'
  readonly status: number
  readonly code: string
  readonly body: unknown

  constructor (status: number, code: string, message: string, body?: unknown) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.body = body
  }
}

async function request<T> (method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const { url, token } = await connection()
  const headers: Record<string, string> = { Authorization: `Bearer ${token}` }
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  let response: Response
  try {
    response = await fetch(`${url}/api/v1${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
  } catch (err) {
    throw new ApiError(0, 'unreachable', `The node did not answer (${(err as Error).message}).`)
  }
  const text = await response.text()
  let json: unknown
  try {
    json = text === '' ? undefined : JSON.parse(text)
  } catch {
    json = undefined
  }
  if (!response.ok) {
    const error = (json as { error?: { code?: string, message?: string } } | undefined)?.error
    throw new ApiError(response.status, error?.code ?? `http-${response.status}`,
      error?.message ?? `The node answered ${response.status} ${response.statusText}.`, json)
  }
  return json as T
}

export async function apiGet<T> (path: string): Promise<T> {
  return await request<T>('GET', path)
}

export async function apiPost<T> (path: string, body: unknown): Promise<T> {
  return await request<T>('POST', path, body)
}

export async function accountHistory (account: string, options: { limit?: number, before?: string } = {}): Promise<HistoryPage> {
  const query = new URLSearchParams()
  if (options.limit !== undefined) query.set('limit', String(options.limit))
  if (options.before !== undefined) query.set('before', options.before)
  const suffix = query.size > 0 ? `?${query.toString()}` : ''
  return await apiGet<HistoryPage>(`/accounts/${encodeURIComponent(account)}/history${suffix}`)
}

export interface BuyRequest { seller: string, amount: number, contract?: SaleContract, paymentId?: string, as?: string }

export async function buyUnits (body: BuyRequest): Promise<PaymentResult> {
  return await apiPost<PaymentResult>('/actions/buy', body)
}

export interface FundRequest {
  device: string
  wh: number
  window?: { from: number, until: number } | null
  as?: string
}

export async function fundDevice (body: FundRequest): Promise<FundResult> {
  return await apiPost<FundResult>('/actions/fund', body)
}

/** A simulated meter of the island demo (`GET /simulator`): the sun on a panel, or a load switched on. */
export interface SimulatedMeter {
  id: string
  role: 'generation' | 'consumption'
  label: string
  on: boolean
  powerW: number
  relay: boolean | null
  meteredWh: number
}

/** The node's simulated meters; `ApiError` code `no-simulator` (501) on a node without a simulation. */
export async function simulatedMeters (): Promise<SimulatedMeter[]> {
  return (await apiGet<{ meters: SimulatedMeter[] }>('/simulator')).meters
}

/** Switches a simulated panel's sun or a simulated load on or off (`POST /simulator/switch`). */
export async function switchSimulated (body: { meter: string, on: boolean }): Promise<SimulatedMeter> {
  return await apiPost<SimulatedMeter>('/simulator/switch', body)
}

export type { OpResult }
