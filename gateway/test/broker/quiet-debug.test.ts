import t from 'tap'
import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import '../../src/broker/quiet-debug.js'

interface Logger { (...args: unknown[]): void, enabled: boolean }
type Factory = ((namespace: string) => Logger) & { quiet?: boolean, enable: (ns: string) => void, disable: () => string }

const fromMqttPacket = createRequire(dirname(createRequire(import.meta.url).resolve('mqtt-packet/package.json')) + '/')

t.test('mqtt-packet gets loggers that do nothing unless their namespace is enabled', async t => {
  const createDebug = fromMqttPacket('debug') as Factory
  t.equal(createDebug.quiet, true, 'the debug module mqtt-packet resolves is the quiet one')
  const before = createDebug.disable()
  t.teardown(() => { if (before) createDebug.enable(before) })
  const off = createDebug('fleetgate-test:off')
  t.equal(off.enabled, false)
  t.equal(off.name, 'bound noop', 'a disabled namespace gets a function that does nothing')
  t.doesNotThrow(() => off('%s', 'x'))
  createDebug.enable('fleetgate-test:on')
  const on = createDebug('fleetgate-test:on')
  t.equal(on.enabled, true, 'an enabled namespace gets the real logger')
  t.not(on.name, 'bound noop')
})
