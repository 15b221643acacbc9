/**
 * Errors: every refusal is a 4xx (or 5xx) with a JSON body `{ error: { code, message } }` whose message
 * says what is wrong. Handlers throw `ApiError`; validation failures (zod) become `bad-request` with the
 * field named; Hono's own HTTP errors (malformed JSON, unsupported media type, body too large) keep
 * their status and get a code.
 */
import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { ZodError } from 'zod'

export class ApiError extends Error {
  override readonly name = 'ApiError'
  readonly status: ContentfulStatusCode
  readonly code: string
  /** Extra fields of the error body (e.g. the ledger's verdict on an op). */
  readonly extra: Record<string, unknown> | undefined

  constructor (status: ContentfulStatusCode, code: string, message: string, extra?: Record<string, unknown>) {
    super(message)
    this.status = status
    this.code = code
    this.extra = extra
  }
}

export interface ErrorBody {
  error: { code: string, message: string }
  [extra: string]: unknown
}

export function errorBody (code: string, message: string, extra?: Record<string, unknown>): ErrorBody {
  return { ...extra, error: { code, message } }
}

/** One sentence per problem, each naming its field: `body.wh: expected a positive integer`. */
export function describeZodError (error: ZodError, target: string): string {
  return error.issues.map(issue => {
    const path = [target, ...issue.path.map(String)].join('.')
    return `${path}: ${issue.message}`
  }).join('; ')
}

const HTTP_CODES: Partial<Record<number, string>> = {
  400: 'bad-request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not-found',
  405: 'method-not-allowed',
  413: 'body-too-large',
  415: 'unsupported-media-type'
}

/** The app's `onError`: ApiError and HTTPException as JSON, anything else a 500 with its message. */
export function handleError (err: Error, c: Context): Response {
  if (err instanceof ApiError) return c.json(errorBody(err.code, err.message, err.extra), err.status)
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode
    const message = err.message !== '' ? err.message : (HTTP_CODES[status] ?? 'error').replaceAll('-', ' ')
    return c.json(errorBody(HTTP_CODES[status] ?? (status >= 500 ? 'internal' : 'bad-request'), message), status)
  }
  return c.json(errorBody('internal', `internal error: ${err.message}`), 500)
}
