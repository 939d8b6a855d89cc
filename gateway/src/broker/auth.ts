// Who may connect, and to what they may subscribe: a vehicle with its own id,
// user name and device token (and a Will only as its own status), or an
// internal client (an api process) with the internal token. A refusal counts
// in fleetgate_refused_total by reason and answers with the CONNACK return
// code MQTT 3.1.1 gives for it.
import { timingSafeEqual } from 'node:crypto'
import type { AedesOptions, AuthenticateError, Client, Subscription } from 'aedes'
import { INTERNAL_CLIENT_PREFIX, INTERNAL_USERNAME, isVehicleId, LIVE_TOPIC_FILTER, vehicleSubtree, vehicleTopic } from '../../../schemas/topics.js'
import type { DeviceRegistry } from './device-registry.js'
import { statusWord } from './sessions.js'

export type Role = 'vehicle' | 'internal'
const roles = new WeakMap<Client, Role>()

/** The role a client logged in with (none before, or if refused). */
export function roleOf (client: Client): Role | undefined {
  return roles.get(client)
}

function authError (message: string, returnCode: number): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError
}

export interface AuthOptions {
  registry: DeviceRegistry
  internalToken: string
  refuse: (reason: string) => void
  /** A vehicle's credentials were accepted; its CONNACK follows. */
  accepted: (client: Client) => void
}

export type Auth = Required<Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizeSubscribe'>>

export function createAuth (opts: AuthOptions): Auth {
  const { registry, refuse } = opts
  const internalToken = Buffer.from(opts.internalToken)
  const wills = new WeakMap<Client, { topic: string, payload: Buffer | string }>()
  return {
    preConnect (client, packet, done) {
      // authenticate sees no Will: keep it for the check there
      if (packet.will) wills.set(client, packet.will)
      done(null, true)
    },

    authenticate (client, username, password, done) {
      const id = client.id
      const will = wills.get(client)
      if (username === INTERNAL_USERNAME) {
        const given = password ?? Buffer.alloc(0)
        if (will === undefined && id.startsWith(INTERNAL_CLIENT_PREFIX) && given.length === internalToken.length && timingSafeEqual(given, internalToken)) {
          roles.set(client, 'internal')
          return done(null, true)
        }
        refuse('bad_internal_token')
        return done(authError('not authorized', 5), null)
      }
      if (!isVehicleId(id)) {
        refuse('bad_client_id')
        return done(authError('client id is not a valid vehicle id', 2), null)
      }
      if (username !== id) {
        refuse('id_mismatch')
        return done(authError('username must equal client id', 4), null)
      }
      if (!password || !registry.verify(id, password.toString('utf8'))) {
        refuse('bad_token')
        return done(authError('bad token', 4), null)
      }
      if (will !== undefined && (will.topic !== vehicleTopic(id, 'status') || statusWord(will.payload) === null)) {
        // a Will speaks only for its own vehicle, as its status
        refuse('foreign_will')
        return done(authError(`a Will must be "online" or "offline" on ${vehicleTopic(id, 'status')}`, 5), null)
      }
      roles.set(client, 'vehicle')
      opts.accepted(client)
      done(null, true)
    },

    authorizeSubscribe (client, sub: Subscription, done) {
      const role = roles.get(client)
      if (role === 'internal' && sub.topic === LIVE_TOPIC_FILTER) return done(null, sub)
      if (role === 'vehicle' && sub.topic.startsWith(vehicleSubtree(client.id))) return done(null, sub)
      refuse('foreign_subscription')
      // [MQTT-3.9.3] a failure return code (0x80) in SUBACK, the session stays
      done(null, null)
    }
  }
}
