// npm run lint: eslint (neostandard, the fastify ecosystem's style) and the
// drift check of the types generated from schemas/.
import { spawnSync } from 'node:child_process'

const run = (cmd, args) => spawnSync(cmd, args, { stdio: 'inherit' }).status ?? 1
let status = run('npx', ['eslint', '.'])
status ||= run('npx', ['tsx', 'scripts/gen-types.ts', '--check'])
process.exit(status)
