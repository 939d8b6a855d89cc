// mqtt-packet calls its `debug` loggers about six times per PUBLISH it parses
// or PUBACK it writes. A logger of the `debug` package takes `...args` before
// it looks whether its namespace is enabled, so each call allocated an array
// even with DEBUG unset, several times per reading: one of the largest
// sources of the gateway's allocations in a sampling heap profile under
// `npm run bench -- profile` load. Loaded
// before mqtt-packet, this hands it a logger that does nothing when its
// namespace is not enabled at start, and the real one when it is, so
// DEBUG=mqtt-packet:* works as before.
import { createRequire } from 'node:module'
import { dirname } from 'node:path'

interface DebugFactory {
  (namespace: string): unknown
  enabled: (namespace: string) => boolean
  quiet?: boolean
}

const require = createRequire(import.meta.url)

function noop (): void {}

// the `debug` module as mqtt-packet resolves it
const file = require.resolve('debug', { paths: [dirname(require.resolve('mqtt-packet/package.json'))] })
const real = require(file) as DebugFactory
const cached = require.cache[file]
if (cached && real.quiet !== true) {
  const createDebug = (namespace: string): unknown => real.enabled(namespace)
    ? real(namespace)
    : Object.assign(noop.bind(null), { enabled: false, namespace, extend: (sub: string, delimiter = ':') => createDebug(namespace + delimiter + sub) })
  cached.exports = Object.assign(createDebug, real, { quiet: true })
}
