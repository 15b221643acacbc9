/** A sub-app for one resource: validation failures become 400 `bad-request` naming the field. */
import { OpenAPIHono } from '@hono/zod-openapi'
import { ApiError, describeZodError } from './errors.ts'

const TARGETS: Record<string, string> = { json: 'body', param: 'path', query: 'query', header: 'header' }

export function router (): OpenAPIHono {
  return new OpenAPIHono({
    defaultHook: (result) => {
      if (!result.success) throw new ApiError(400, 'bad-request', describeZodError(result.error, TARGETS[result.target] ?? result.target))
    }
  })
}
