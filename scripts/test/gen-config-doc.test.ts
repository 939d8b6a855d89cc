import t from 'tap'
import { readFileSync } from 'node:fs'
import { BEGIN, END, configTable, withTable } from '../gen-config-doc.js'

const schema = JSON.parse(readFileSync(new URL('../../schemas/config.schema.json', import.meta.url), 'utf8')) as { properties: Record<string, { default?: unknown }> }

t.test('one row per variable of the config schema, with its default', async t => {
  const table = configTable(schema)
  const rows = table.split('\n').filter(l => l.startsWith('| `'))
  t.same(rows.map(r => /^\| `([A-Z0-9_]+)`/.exec(r)?.[1]), Object.keys(schema.properties))
  t.match(table, /^\| `ACK_MODE` \| `spool` \| `spool`, `commit` \|/m)
  t.match(table, /^\| `MQTT_WS_PORT` \| `8083` \| integer -1 to 65535 \|/m)
  // a | in a pattern would split the cell
  t.match(table, /^\| `MAP_TILE_URL` \| [^\n]*`\^\(none\\\|https/m)
})

t.test('only the region between the markers is replaced', async t => {
  const doc = `# title\n\nprose\n\n${BEGIN}\nold table\n${END}\n\nmore prose\n`
  t.equal(withTable(doc, `${BEGIN}\nnew\n${END}`), `# title\n\nprose\n\n${BEGIN}\nnew\n${END}\n\nmore prose\n`)
  t.throws(() => withTable('# no markers\n', 'x'), Error)
})

t.test('docs/configuration.md holds the table the schema gives', async t => {
  const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8')
  t.equal(withTable(doc, configTable(schema)), doc, 'run npx tsx scripts/gen-config-doc.ts')
})
