// API keys: made once, stored hashed, verified with their role.
import t from 'tap'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { tempDir } from '../../test/helper.js'
import { allows, apiKeysFile, createApiKey, openApiKeyStore } from '../src/api-keys.js'

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
