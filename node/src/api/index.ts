/** The node's HTTP API (docs/API.md). */
export { createApi, closeApi, replicaOf, API_PREFIX, API_VERSION } from './app.ts'
export { Replica, RECENT_OPS, type ReplicaOptions, type RecentOp } from './replica.ts'
export { UI_CSP, type UiOptions } from './static.ts'
export { serveApi, type ServeOptions, type ServedApi } from './server.ts'
export type { ApiComponents, ApiOptions, ApiPayments, ApiSettlement, ApiSimulator, SimulatedMeter } from './context.ts'
export { ApiError } from './errors.ts'
export { wouldReject } from './signing.ts'
