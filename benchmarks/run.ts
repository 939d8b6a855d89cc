// npm run bench -- <name> [options]: runs benchmarks/<name>.bench.ts with the options.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const [name, ...rest] = process.argv.slice(2)
const file = fileURLToPath(new URL(`./${name ?? ''}.bench.ts`, import.meta.url))
if (!name || !/^[a-z0-9-]+$/.test(name) || !existsSync(file)) {
  process.stderr.write('usage: npm run bench -- <name> [options]   (name: a benchmarks/<name>.bench.ts)\n')
  process.exit(2)
}
process.exit(spawnSync(process.execPath, ['--import', 'tsx', file, ...rest], { stdio: 'inherit' }).status ?? 1)
