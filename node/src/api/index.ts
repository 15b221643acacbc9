/** The node's HTTP API (docs/API.md). */
export { createApi, closeApi, API_PREFIX, API_VERSION } from './app.ts'
export { serveApi, type ServeOptions, type ServedApi } from './server.ts'
export type { ApiComponents, ApiOptions, ApiPayments, ApiSettlement } from './context.ts'
export { ApiError } from './errors.ts'
export { wouldReject } from './signing.ts'
