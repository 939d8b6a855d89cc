// API keys over the admin API, on a real stack with keys and rate limits on:
// a key made here works at once, a revoked or rotated one is refused, the
// listing never shows a key.
import t from 'tap'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { loadConfig } from '../../../schemas/config.js'
import { apiKeysFile } from '../../src/api-keys.js'
import { pollUntil } from '../../../test/helper.js'
import { call, conforms, startApiStack } from '../fixture.js'

const envKey = 'fgk_from-a-secret-store-0123456789abcdef'
const envId = createHash('sha256').update(envKey).digest('hex').slice(0, 12)

t.test('API keys over the admin API', async t => {
  const s = await startApiStack(t, { API_RATE_LIMIT: loadConfig({}).API_RATE_LIMIT, API_KEYS: `read:${createHash('sha256').update(envKey).digest('hex')}` })
  const refusedWithin = async (key: string, what: string): Promise<void> => {
    await pollUntil(async () => (await call(s, '/api/v1/vehicles', { key })).status === 401, 5000, what)
  }

  t.test('admin role only', async t => {
    for (const [key, status] of [[null, 401], [s.keys.read, 403], [s.keys.ingest, 403]] as const) {
      t.equal((await call(s, '/api/v1/api-keys', { key })).status, status)
      t.equal((await call(s, '/api/v1/api-keys', { method: 'POST', key, body: { role: 'admin' } })).status, status)
    }
  })

  t.test('create, use, list, rotate, revoke', async t => {
    const made = await call(s, '/api/v1/api-keys', { method: 'POST', body: { role: 'read', name: 'grafana on ops-1' } })
    t.equal(made.status, 201)
    conforms(t, 'api-key-secret', made.body)
    t.equal(made.headers.get('cache-control'), 'no-store')
    t.match(made.body, { role: 'read', name: 'grafana on ops-1', key: /^fgk_/ })
    t.equal((await call(s, '/api/v1/vehicles', { key: made.body.key })).status, 200, 'works at once')
    t.equal((await call(s, '/api/v1/api-keys', { key: made.body.key })).status, 403, 'a read key is no admin')

    const list = await call(s, '/api/v1/api-keys')
    conforms(t, 'api-key-list', list.body)
    t.match(list.body.api_keys.find((k: { id: string }) => k.id === made.body.id), { role: 'read', name: 'grafana on ops-1', source: 'file', revoked_at: null })
    t.match(list.body.api_keys.find((k: { id: string }) => k.id === envId), { role: 'read', source: 'env' }, 'keys from API_KEYS are listed')
    t.notOk(list.text.includes(made.body.key) || list.text.includes(createHash('sha256').update(made.body.key).digest('hex')), 'no key nor hash in the listing')

    const rotated = await call(s, `/api/v1/api-keys/${made.body.id}/rotate`, { method: 'POST' })
    t.equal(rotated.status, 200)
    t.match(rotated.body, { role: 'read', name: 'grafana on ops-1', replaces: made.body.id })
    t.equal((await call(s, '/api/v1/vehicles', { key: rotated.body.key })).status, 200, 'the new key works')
    await refusedWithin(made.body.key, 'the rotated key to be refused')

    const revoked = await call(s, `/api/v1/api-keys/${rotated.body.id}`, { method: 'DELETE' })
    t.equal(revoked.status, 204)
    await refusedWithin(rotated.body.key, 'the revoked key to be refused')
    const again = await call(s, `/api/v1/api-keys/${rotated.body.id}`, { method: 'DELETE' })
    t.equal(again.status, 404)
    t.equal(again.body.code, 'API_ERR_NOT_FOUND')
    t.equal((await call(s, '/api/v1/api-keys/000000000000/rotate', { method: 'POST' })).status, 404)
    t.equal((await call(s, '/api/v1/api-keys/not-an-id', { method: 'DELETE' })).body.code, 'API_ERR_VALIDATION')
    const gone = await call(s, '/api/v1/api-keys?status=revoked')
    t.same(gone.body.api_keys.map((k: { id: string }) => k.id).sort(), [made.body.id, rotated.body.id].sort())
    t.notOk((await call(s, '/api/v1/api-keys')).body.api_keys.some((k: { id: string }) => k.id === made.body.id), 'active only by default')

    t.equal((await call(s, '/api/v1/vehicles', { key: envKey })).status, 200)
    t.equal((await call(s, `/api/v1/api-keys/${envId}`, { method: 'DELETE' })).status, 204)
    await refusedWithin(envKey, 'the API_KEYS key to be refused once revoked')
  })

  t.test('bulk from JSON and CSV, each key once', async t => {
    const json = await call(s, '/api/v1/api-keys/bulk', { method: 'POST', body: [{ role: 'read', name: 'a' }, { role: 'ingest', name: 'b' }] })
    t.equal(json.status, 200)
    conforms(t, 'api-keys-bulk-result', json.body)
    t.same(json.body.api_keys.map((k: { role: string, name: string }) => [k.role, k.name]), [['read', 'a'], ['ingest', 'b']])
    const res = await fetch(s.httpUrl + '/api/v1/api-keys/bulk', { method: 'POST', headers: { authorization: `Bearer ${s.keys.admin}`, 'content-type': 'text/csv' }, body: 'role,name\nread,"dash, board"\nadmin,\n' })
    const csv = await res.json() as { api_keys: Array<{ role: string, name: string, key: string }> }
    t.equal(res.status, 200)
    t.same(csv.api_keys.map(k => [k.role, k.name]), [['read', 'dash, board'], ['admin', '']])
    for (const k of [...json.body.api_keys, ...csv.api_keys]) t.equal((await call(s, '/api/v1/vehicles', { key: k.key })).status, k.role === 'ingest' ? 403 : 200)
    const bad = await call(s, '/api/v1/api-keys/bulk', { method: 'POST', body: [{ role: 'read' }, { role: 'root' }] })
    t.equal(bad.status, 400)
    t.equal(bad.body.code, 'API_ERR_VALIDATION')
    const text = readFileSync(apiKeysFile(s.config.DATA_DIR), 'utf8')
    t.notOk([...json.body.api_keys, ...csv.api_keys].some(k => text.includes(k.key)), 'only hashes on disk')
  })
})
