// The Node versions package.json promises (and the README repeats) must be
// ones every locked package supports, or `npm install` warns EBADENGINE.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const root = new URL('../', import.meta.url)
// semver is what npm itself checks engines with (a dependency of the lockfile, loaded untyped)
const semver = createRequire(import.meta.url)('semver') as { subset: (sub: string, dom: string) => boolean, validRange: (r: string) => string | null }

const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { engines: { node: string } }
const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8')) as { packages: Record<string, { version?: string, engines?: { node?: string } | string[] }> }

t.test('every locked package supports every Node version package.json promises', async t => {
  const promise = pkg.engines.node
  t.ok(semver.validRange(promise), `engines.node ${promise} is a range`)
  const unsupported: string[] = []
  for (const [path, p] of Object.entries(lock.packages)) {
    const range = !Array.isArray(p.engines) ? p.engines?.node : undefined
    if (!path || !range) continue
    if (!semver.subset(promise, range)) unsupported.push(`${path.replace(/^.*node_modules\//, '')}@${p.version ?? '?'} needs node ${range}`)
  }
  t.same(unsupported, [], `packages that would warn EBADENGINE on a Node that ${promise} allows`)
  t.same(lock.packages['']?.engines, pkg.engines, 'the lockfile was regenerated after engines changed')
})

t.test('the README promises what package.json does', async t => {
  const readme = readFileSync(new URL('README.md', root), 'utf8')
  t.ok(readme.includes(`Node \`${pkg.engines.node}\``), `README says Node \`${pkg.engines.node}\``)
})
