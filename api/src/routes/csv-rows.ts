// Rows of a CSV text (RFC 4180: comma-separated, fields optionally in double
// quotes with "" for a quote, CRLF or LF line ends). Blank lines are skipped.
export function csvRows (text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let field = ''
  let quoted = false
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0 // a byte order mark, as spreadsheets write
  const endRow = (): void => {
    row.push(field)
    if (row.length > 1 || row[0] !== '') rows.push(row.map(f => f.trim()))
    row = []
    field = ''
  }
  for (; i < text.length; i++) {
    const c = text[i] as string
    if (quoted) {
      if (c !== '"') field += c
      else if (text[i + 1] === '"') { field += '"'; i++ } else quoted = false
    } else if (c === '"' && field.trim() === '') { field = ''; quoted = true } else if (c === ',') { row.push(field); field = '' } else if (c === '\n') endRow()
    else if (c !== '\r') field += c
  }
  if (quoted) throw new Error('CSV: a quoted field is not closed')
  if (field !== '' || row.length > 0) endRow()
  return rows
}
