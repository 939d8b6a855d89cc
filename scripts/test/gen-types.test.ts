import t from 'tap'
import { readFileSync } from 'node:fs'
import { generateTypes } from '../gen-types.js'

t.test('schemas/types.ts is generated from the schemas', async t => {
  t.equal(readFileSync(new URL('../../schemas/types.ts', import.meta.url), 'utf8'), await generateTypes())
})
