#!/usr/bin/env -S node --max-semi-space-size=64
// npx fleetgate <command>: runs bin/cli.ts through tsx's loader.
import { register } from 'tsx/esm/api'
register()
await import('./cli.ts')
