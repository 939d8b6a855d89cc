import t from 'tap'
import formatsModule from 'ajv-formats/dist/formats.js'
import { createDateTimeFormat } from '../../src/ingest/validate.js'

const full = (formatsModule as unknown as { fullFormats: { 'date-time': { validate: (s: string) => boolean } } }).fullFormats['date-time'].validate

// each text is checked right after every other one, so that whatever a
// previous text left remembered is tried against it
const texts = [
  '2026-11-21T10:15:30Z', '2026-11-21T10:15:30.123Z', '2026-11-21T10:15:30.123456Z', '2026-11-21t10:15:30z',
  '2026-11-21 10:15:30Z', '2026-11-21T10:15:30+02:00', '2026-11-21T10:15:30-0530', '2026-11-21T10:15:30+02',
  '2026-11-21T10:15:30+24:00', '2026-11-21T10:15:30+23:60', '2026-11-21T10:15:30', '2026-11-21T10:15:30.Z',
  '2026-11-21T10:15:30.123', '2026-11-21T10:15:30ZZ', '2026-11-21T10:15:30Z ', '2026-11-21T10:15:30Zt',
  '2026-11-21T10:15:30+02:00:00', '2026-11-21T10:15:30.1e3Z', '2026-11-21T10:15:3Z', '2026-11-21T10:15:30.123+0200',
  '2026-11-21T10:15:31Z', '2026-11-21T24:00:00Z', '2026-11-21T23:60:00Z', '2026-11-21T23:59:60Z', '2026-11-21T23:59:60.5Z',
  '2026-11-21T22:59:60-01:00', '2026-11-21T10:15:60Z', '2026-11-21T10:15:61Z', '2026-02-29T10:15:30Z', '2024-02-29T10:15:30Z',
  '2026-13-01T10:15:30Z', '2026-11-31T10:15:30Z', '2026-11-21X10:15:30Z', '2026-11-21T10:15:30\nZ', '2026-11-21T10:15:30Z\n',
  '', 'x', '2026-11-21T10:15:30', '2026-11-21T10:15:30+', '2026-11-21T10:15:30-00:00', '2026-11-21T10:15:30.000000001Z'
]

t.test('the remembered second gives the full check\'s answer for every pair of texts', async t => {
  let disagreements = 0
  for (const a of texts) {
    for (const b of texts) {
      const check = createDateTimeFormat()
      check(a)
      if (check(b) !== full(b)) {
        disagreements++
        t.fail(`after ${JSON.stringify(a)}, ${JSON.stringify(b)}: ${check(b)} but the full check says ${full(b)}`)
      }
    }
  }
  t.equal(disagreements, 0)
  t.ok(texts.some(s => full(s)) && texts.some(s => !full(s)), 'the corpus has both')
})

t.test('texts of the same second go through the full check once', async t => {
  let calls = 0
  const check = createDateTimeFormat(s => { calls++; return full(s) })
  let valid = 0
  for (let ms = 0; ms < 1000; ms++) if (check(`2026-11-21T10:15:30.${String(ms).padStart(3, '0')}Z`)) valid++
  t.equal(valid, 1000)
  t.equal(calls, 1)
  t.equal(check('2026-11-21T10:15:31.000Z'), true)
  t.equal(calls, 2, 'the next second is checked in full')
  t.equal(check('2026-11-21T10:15:31.000+25:00'), false)
  t.equal(calls, 3, 'a zone the short check refuses goes to the full check')
})

t.test('a leap second is never remembered', async t => {
  let calls = 0
  const check = createDateTimeFormat(s => { calls++; return full(s) })
  t.equal(check('2026-12-31T23:59:60Z'), true)
  t.equal(check('2026-12-31T23:59:60+01:00'), false, 'at 22:59:60 UTC there is no leap second')
  t.equal(calls, 2)
})
