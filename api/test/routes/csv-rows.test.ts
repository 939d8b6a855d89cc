// The CSV reader of the bulk admin routes (RFC 4180).
import t from 'tap'
import { csvRows } from '../../src/routes/csv-rows.js'

t.test('fields, quotes, line ends', async t => {
  t.same(csvRows('a,b\nc,d\n'), [['a', 'b'], ['c', 'd']])
  t.same(csvRows('a,b\r\nc,d'), [['a', 'b'], ['c', 'd']], 'CRLF, no final line end')
  t.same(csvRows('\ufeffid\nv1\n'), [['id'], ['v1']], 'a byte order mark is dropped')
  t.same(csvRows('"a, b","say ""hi""",c\n'), [['a, b', 'say "hi"', 'c']], 'commas and doubled quotes inside quotes')
  t.same(csvRows('"two\nlines",x\n'), [['two\nlines', 'x']], 'a line end inside quotes')
  t.same(csvRows('\n\n v1 , x \n\n'), [['v1', 'x']], 'blank lines skipped, fields trimmed')
  t.same(csvRows('a,,\n'), [['a', '', '']], 'empty fields kept')
  t.same(csvRows(''), [])
  t.throws(() => csvRows('"open\n'), /not closed/)
})
