// API keys: made once, stored hashed, verified with their role.
import t from 'tap'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { pollUntil, tempDir } from '../../test/helper.js'
import { allows, apiKeysFile, createApiKey, createApiKeys, listApiKeys, openApiKeyStore, revokeApiKey, rotateApiKey } from '../src/api-keys.js'

t.test('keys in the file: only hashes stored, new keys work without reopening', async t => {
  const dir = tempDir(t)
  const store = openApiKeyStore(dir)
  t.equal(store.size(), 0)
  const a = createApiKey(dir, 'read')
  const b = createApiKey(dir, 'admin')
  t.same(store.verify(a.key), { id: a.id, role: 'read' })
  t.same(store.verify(b.key), { id: b.id, role: 'admin' })
  t.equal(store.verify(a.key + 'x'), null)
  t.equal(store.verify(''), null)
  const text = readFileSync(apiKeysFile(dir), 'utf8')
  t.notOk(text.includes(a.key), 'no key in clear')
  t.ok(text.includes(createHash('sha256').update(a.key).digest('hex')))
})

t.test('keys from API_KEYS', async t => {
  const key = 'fgk_from-the-environment-0123456789'
  const hash = createHash('sha256').update(key).digest('hex')
  const store = openApiKeyStore(tempDir(t), `ingest:${hash}`)
  t.same(store.verify(key), { id: hash.slice(0, 12), role: 'ingest' })
  t.throws(() => openApiKeyStore(tempDir(t), 'root:abc'))
})

t.test('roles', async t => {
  t.ok(allows('admin', 'read'))
  t.ok(allows('admin', 'ingest'))
  t.ok(allows('read', 'read'))
  t.notOk(allows('read', 'ingest'))
  t.notOk(allows('ingest', 'read'))
})

t.test('fleetgate apikey --role prints a key once and stores its hash', async t => {
  const dir = tempDir(t)
  const cli = fileURLToPath(new URL('../../bin/cli.ts', import.meta.url))
  const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', cli, 'apikey', ...args], { env: { ...process.env, DATA_DIR: dir }, encoding: 'utf8' })
  const ok = run('--role', 'ingest')
  t.equal(ok.status, 0)
  const key = ok.stdout.trim()
  t.match(key, /^fgk_[A-Za-z0-9_-]{43}$/, 'only the key on stdout')
  t.same(openApiKeyStore(dir).verify(key)?.role, 'ingest')
  t.notOk(readFileSync(apiKeysFile(dir), 'utf8').includes(key))
  const bad = run('--role', 'root')
  t.equal(bad.status, 2)
  t.match(bad.stderr, /usage: fleetgate apikey --role <read\|ingest\|admin>/)
})

t.test('revoke and rotate: a revoked key is refused, a rotated one replaced, env keys too', async t => {
  const dir = tempDir(t)
  const envKey = 'fgk_from-the-environment-0123456789'
  const envHash = createHash('sha256').update(envKey).digest('hex')
  const env = `read:${envHash}`
  const store = openApiKeyStore(dir, env)
  const a = createApiKey(dir, 'read', 'grafana')
  const b = createApiKey(dir, 'ingest')
  t.equal(store.verify(a.key)?.id, a.id)
  t.same(listApiKeys(dir, env).map(k => [k.id, k.role, k.name, k.source, k.revoked_at]), [[envHash.slice(0, 12), 'read', '', 'env', null], [a.id, 'read', 'grafana', 'file', null], [b.id, 'ingest', '', 'file', null]])

  t.ok(revokeApiKey(dir, a.id, env))
  t.notOk(revokeApiKey(dir, a.id, env), 'a second revocation finds no active key')
  t.notOk(revokeApiKey(dir, '000000000000', env), 'an unknown id is not revoked')
  // a fresh store reads the file at once; an open one within its one-second recheck
  t.equal(openApiKeyStore(dir, env).verify(a.key), null, 'revoked key refused')
  await pollUntil(async () => store.verify(a.key) === null, 5000, 'the open store refuses the revoked key')
  t.ok(listApiKeys(dir, env).find(k => k.id === a.id)?.revoked_at, 'listed with its revocation time')

  const r = rotateApiKey(dir, b.id, env)
  t.ok(r)
  t.equal(r?.replaces, b.id)
  t.equal(r?.role, 'ingest')
  const fresh = openApiKeyStore(dir, env)
  t.equal(fresh.verify(b.key), null, 'the rotated key is refused')
  t.same(fresh.verify(r?.key ?? ''), { id: r?.id, role: 'ingest' }, 'its replacement works')
  t.equal(rotateApiKey(dir, b.id, env), null, 'a revoked key cannot be rotated')

  t.ok(revokeApiKey(dir, envHash.slice(0, 12), env), 'a key from API_KEYS can be revoked too')
  t.equal(openApiKeyStore(dir, env).verify(envKey), null)
  t.notOk(readFileSync(apiKeysFile(dir), 'utf8').includes(r?.key ?? 'x'), 'no key in clear')
})

t.test('bulk creation makes each key once, in order', async t => {
  const dir = tempDir(t)
  const made = createApiKeys(dir, [{ role: 'read', name: 'a' }, { role: 'admin' }, { role: 'ingest', name: 'c' }])
  t.same(made.map(m => [m.role, m.name]), [['read', 'a'], ['admin', ''], ['ingest', 'c']])
  t.equal(new Set(made.map(m => m.key)).size, 3)
  const store = openApiKeyStore(dir)
  for (const m of made) t.equal(store.verify(m.key)?.role, m.role)
  t.throws(() => createApiKeys(dir, [{ role: 'root' as never }]), /invalid role/)
  t.throws(() => createApiKey(dir, 'read', 'x'.repeat(101)), /at most 100/)
})
