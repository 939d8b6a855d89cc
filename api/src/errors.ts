// Coded errors of the api, declared once (STYLE.md habit 4, as fastify's
// lib/errors.js with @fastify/error). Each carries its status; the errors
// plugin turns any of them into application/problem+json with `code`.
// Callers and clients match on `code`, never on the text.
//
// | code                       | status | when                                                        |
// | -------------------------- | ------ | ----------------------------------------------------------- |
// | API_ERR_VALIDATION         | 400    | a parameter or body does not match its schema               |
// | API_ERR_BAD_REQUEST        | 400    | malformed request (e.g. invalid JSON body)                  |
// | API_ERR_BAD_RANGE          | 400    | `to` is not after `from`                                    |
// | API_ERR_RANGE_TOO_LARGE    | 400    | from/to spans more than the endpoint allows                 |
// | API_ERR_BAD_CURSOR         | 400    | a cursor this API did not issue                             |
// | API_ERR_BAD_BBOX           | 400    | bbox is not minLon,minLat,maxLon,maxLat within WGS84 bounds |
// | API_ERR_BAD_WEBHOOK_URL    | 400    | a webhook URL that is not http(s), or holds credentials     |
// | API_ERR_GEOFENCE_RING_NOT_CLOSED   | 400 | a geofence ring's last position is not its first   |
// | API_ERR_GEOFENCE_SELF_INTERSECTION | 400 | two edges of a geofence ring cross or touch        |
// | API_ERR_GEOFENCE_TOO_MANY_VERTICES | 400 | a geofence over GEOFENCE_MAX_VERTICES              |
// | API_ERR_GEOFENCE_COORDINATE_RANGE  | 400 | a longitude outside -180..180 or latitude outside -90..90 |
// | API_ERR_GEOFENCE_BAD_RADIUS        | 400 | a circle's radius_m is not above 0                 |
// | API_ERR_UNAUTHORIZED       | 401    | no API key, or an unknown one                               |
// | API_ERR_FORBIDDEN          | 403    | a valid key whose role does not allow this route            |
// | API_ERR_NOT_FOUND          | 404    | no such route, vehicle, device token, API key, geofence or alert |
// | API_ERR_CONFLICT           | 409    | the vehicle already holds a device token (rotate it instead), or the geofence id exists |
// | API_ERR_PAYLOAD_TOO_LARGE  | 413    | request body over the limit                                 |
// | API_ERR_UNSUPPORTED_MEDIA  | 415    | body is not application/json                                |
// | API_ERR_RATE_LIMITED       | 429    | the key's request budget is spent; see Retry-After          |
// | API_ERR_INTERNAL           | 500    | a bug or QuestDB failure; the log has the request id        |
// | API_ERR_UNAVAILABLE        | 503    | QuestDB unreachable, or durable storage did not confirm in time; see Retry-After |
import createError from '@fastify/error'

type Detail = [string, { cause: unknown }?]

export const API_ERR_VALIDATION = createError<Detail>('API_ERR_VALIDATION', '%s', 400)
export const API_ERR_BAD_REQUEST = createError<Detail>('API_ERR_BAD_REQUEST', '%s', 400)
export const API_ERR_BAD_RANGE = createError<Detail>('API_ERR_BAD_RANGE', '%s', 400)
export const API_ERR_RANGE_TOO_LARGE = createError<[number]>('API_ERR_RANGE_TOO_LARGE', 'time range exceeds %d days; narrow from/to (and page through with cursor)', 400)
export const API_ERR_BAD_CURSOR = createError<Detail>('API_ERR_BAD_CURSOR', '%s', 400)
export const API_ERR_BAD_WEBHOOK_URL = createError<Detail>('API_ERR_BAD_WEBHOOK_URL', '%s', 400)
export const API_ERR_GEOFENCE_RING_NOT_CLOSED = createError<Detail>('API_ERR_GEOFENCE_RING_NOT_CLOSED', '%s', 400)
export const API_ERR_GEOFENCE_SELF_INTERSECTION = createError<Detail>('API_ERR_GEOFENCE_SELF_INTERSECTION', '%s', 400)
export const API_ERR_GEOFENCE_TOO_MANY_VERTICES = createError<Detail>('API_ERR_GEOFENCE_TOO_MANY_VERTICES', '%s', 400)
export const API_ERR_GEOFENCE_COORDINATE_RANGE = createError<Detail>('API_ERR_GEOFENCE_COORDINATE_RANGE', '%s', 400)
export const API_ERR_GEOFENCE_BAD_RADIUS = createError<Detail>('API_ERR_GEOFENCE_BAD_RADIUS', '%s', 400)
/** The geometry errors by code (gateway/src/geofences/geometry.ts names them). */
export const GEOFENCE_ERRORS = {
  API_ERR_GEOFENCE_RING_NOT_CLOSED,
  API_ERR_GEOFENCE_SELF_INTERSECTION,
  API_ERR_GEOFENCE_TOO_MANY_VERTICES,
  API_ERR_GEOFENCE_COORDINATE_RANGE,
  API_ERR_GEOFENCE_BAD_RADIUS
} as const
export const API_ERR_BAD_BBOX = createError<[string]>('API_ERR_BAD_BBOX', 'bbox must be minLon,minLat,maxLon,maxLat: %s', 400)
export const API_ERR_UNAUTHORIZED = createError<Detail>('API_ERR_UNAUTHORIZED', '%s', 401)
export const API_ERR_FORBIDDEN = createError<Detail>('API_ERR_FORBIDDEN', '%s', 403)
export const API_ERR_NOT_FOUND = createError<Detail>('API_ERR_NOT_FOUND', '%s', 404)
export const API_ERR_CONFLICT = createError<Detail>('API_ERR_CONFLICT', '%s', 409)
export const API_ERR_PAYLOAD_TOO_LARGE = createError<Detail>('API_ERR_PAYLOAD_TOO_LARGE', '%s', 413)
export const API_ERR_RATE_LIMITED = createError<[number, string]>('API_ERR_RATE_LIMITED', 'rate limit of %d requests per minute reached; retry in %s', 429)
export const API_ERR_UNAVAILABLE = createError<Detail>('API_ERR_UNAVAILABLE', '%s', 503)

/** Codes the errors plugin gives to errors of other origins (fastify's own, plugins'), by status. */
export const CODE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'API_ERR_BAD_REQUEST',
  401: 'API_ERR_UNAUTHORIZED',
  403: 'API_ERR_FORBIDDEN',
  404: 'API_ERR_NOT_FOUND',
  409: 'API_ERR_CONFLICT',
  413: 'API_ERR_PAYLOAD_TOO_LARGE',
  415: 'API_ERR_UNSUPPORTED_MEDIA',
  429: 'API_ERR_RATE_LIMITED'
}

/** An error declared above (its code is API_ERR_*). */
export function isApiError (err: unknown): err is Error & { code: string, statusCode: number } {
  const code: unknown = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined
  return typeof code === 'string' && code.startsWith('API_ERR_')
}
