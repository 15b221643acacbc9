/** A value that is not a well-formed op. `field` is a path such as `op.body.wh`. */
export class OpDecodeError extends TypeError {
  override readonly name = 'OpDecodeError'
  readonly field: string
  readonly expected: string

  constructor (field: string, expected: string, got?: unknown) {
    super(`${field}: expected ${expected}${got === undefined ? '' : `, got ${describe(got)}`}`)
    this.field = field
    this.expected = expected
  }
}

/** A well-formed op whose signature does not verify against its author. */
export class SignatureError extends Error {
  override readonly name = 'SignatureError'
}

/** Text that is not a valid account id, grid id or device QR payload. */
export class AccountIdError extends TypeError {
  override readonly name = 'AccountIdError'
}

export function describe (value: unknown): string {
  if (value === null) return 'null'
  if (value === undefined) return 'nothing'
  if (value instanceof Uint8Array) return `${value.length} bytes`
  if (Array.isArray(value)) return `an array of ${value.length}`
  switch (typeof value) {
    case 'string': return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)
    case 'number': return String(value)
    case 'bigint': return `${value}n`
    case 'boolean': return String(value)
    case 'object': return 'a map'
    default: return typeof value
  }
}
