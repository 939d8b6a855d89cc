// A live-feed subscription: what a map asked for, parsed and checked once, and
// the predicates that decide whether a position or an event goes to it.
import { Ajv, type ErrorObject } from 'ajv'
import type { LiveSubscribe } from '../../../schemas/types.js'
import subscribeSchema from '../../../schemas/api/live-subscribe.schema.json' with { type: 'json' }
import bboxSchema from '../../../schemas/api/bbox.schema.json' with { type: 'json' }
import { bboxProblem, inBox, type BBox } from '../bbox.js'

export interface Subscription {
  /** `"*"`: every vehicle (still narrowed by bbox). */
  all: boolean
  ids: ReadonlySet<string>
  bbox: BBox | null
  /** 0: every reading as it arrives (conflated only when the client falls behind). */
  maxHz: number
}

export const MAX_VEHICLES_PER_SUBSCRIPTION = (subscribeSchema.properties.vehicles.oneOf[1] as { maxItems: number }).maxItems
export const MAX_HZ = subscribeSchema.properties.max_hz.maximum

export function matchesVehicle (sub: Subscription, vehicleId: string): boolean {
  return sub.all || sub.ids.has(vehicleId)
}

/** A position (or an event with a place) for vehicleId at (lat, lon). */
export function matches (sub: Subscription, vehicleId: string, lat: number | undefined, lon: number | undefined): boolean {
  if (!sub.all && !sub.ids.has(vehicleId)) return false
  if (sub.bbox !== null && (lat === undefined || lon === undefined || !inBox(lat, lon, sub.bbox))) return false
  return true
}

// The message is checked against schemas/api/live-subscribe.schema.json; what
// the schema cannot say (minLat <= maxLat) by bboxProblem, as for GET /positions.
const ajv = new Ajv({ strict: true })
ajv.addSchema(bboxSchema)
const validate = ajv.compile<LiveSubscribe>(subscribeSchema)

const VEHICLES_REFUSED = `vehicles must be "*" or an array of at most ${MAX_VEHICLES_PER_SUBSCRIPTION} vehicle ids`
const BBOX_SHAPE_REFUSED = 'bbox must be [minLon,minLat,maxLon,maxLat]'
const BBOX_RANGE_REFUSED = 'bbox out of range: lon in [-180,180], lat in [-90,90], minLat <= maxLat (minLon > maxLon crosses the antimeridian)'
const MAX_HZ_REFUSED = `max_hz must be a number in [0, ${MAX_HZ}] (0 or absent: every reading)`

/** The refusal a client reads: one sentence per property, whatever the validator's own words. */
function refusal (errors: ErrorObject[]): string {
  const first = errors[0] as ErrorObject
  const property = first.instancePath.split('/')[1]
  if (property === 'vehicles') return VEHICLES_REFUSED
  if (property === 'max_hz') return MAX_HZ_REFUSED
  if (property === 'bbox') {
    // a list of four numbers with one beyond ±180 is a box out of range, anything else is no box
    const outOfRange = errors.some(e => e.instancePath.split('/').length === 3 && (e.keyword === 'minimum' || e.keyword === 'maximum'))
    return outOfRange ? BBOX_RANGE_REFUSED : BBOX_SHAPE_REFUSED
  }
  return 'type must be subscribe'
}

/** The subscription, or the reason it is refused (sent back as an error message). */
export function parseSubscribe (message: Record<string, unknown>): Subscription | string {
  const msg: unknown = message
  if (!validate(msg)) return refusal(validate.errors ?? [])
  const bbox = msg.bbox ?? null
  if (bbox !== null && bboxProblem(bbox) !== null) return BBOX_RANGE_REFUSED
  const v = msg.vehicles ?? '*'
  return { all: v === '*', ids: new Set(v === '*' ? [] : v), bbox: bbox === null ? null : [bbox[0], bbox[1], bbox[2], bbox[3]], maxHz: msg.max_hz ?? 0 }
}
