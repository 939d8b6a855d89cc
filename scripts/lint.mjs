// npm run lint: eslint (neostandard, the fastify ecosystem's style) and the
// drift checks of what is generated from schemas/: the types and the table of
// variables in docs/configuration.md.
import { spawnSync } from 'node:child_process'

const run = (cmd, args) => spawnSync(cmd, args, { stdio: 'inherit' }).status ?? 1
let status = run('npx', ['eslint', '.'])
status ||= run('npx', ['tsx', 'scripts/gen-types.ts', '--check'])
status ||= run('npx', ['tsx', 'scripts/gen-config-doc.ts', '--check'])
process.exit(status)
