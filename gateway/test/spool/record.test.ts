// The spool's record format: what frameGroup writes, validPrefix checks at
// open and splitRecords reads back in the drain.
import t, { type Test } from 'tap'
import { crc32 } from 'node:zlib'
import { frameGroup, HEADER, recordSize, splitRecords, validPrefix } from '../../src/spool/record.js'

const payloads = [Buffer.from('a'), Buffer.from('readings,vehicle_id=v1 speed=1 1\n'), Buffer.alloc(300, 7)]

function framed (t: Test): Buffer {
  const { bufs, bytes } = frameGroup(payloads.map(chunk => ({ chunk })))
  const data = Buffer.concat(bufs)
  t.equal(data.length, bytes, 'bytes counts headers and payloads')
  return data
}

t.test('a framed group reads back whole: length and crc32 before each payload', async t => {
  const data = framed(t)
  t.equal(data.readUInt32LE(0), 1)
  t.equal(data.readUInt32LE(4), crc32(Buffer.from('a')))
  t.same(validPrefix(data), { valid: data.length, records: 3 })
  const into: Buffer[] = []
  t.equal(splitRecords(data, data.length, into), data.length)
  t.same(into.map(b => b.toString('hex')), payloads.map(b => b.toString('hex')))
  t.equal(recordSize(data, 0), HEADER + 1)
})

t.test('validPrefix stops at zeros, a torn record and a bad checksum', async t => {
  const data = framed(t)
  const first = HEADER + 1
  t.same(validPrefix(Buffer.concat([data, Buffer.alloc(64)])), { valid: data.length, records: 3 }, 'the zeros of a prepared segment end the data')
  t.same(validPrefix(data.subarray(0, data.length - 1)), { valid: data.length - HEADER - 300, records: 2 }, 'a torn last record is left out')
  const corrupt = Buffer.from(data)
  corrupt[first + HEADER] = (corrupt[first + HEADER] as number) ^ 0xff
  t.same(validPrefix(corrupt), { valid: first, records: 1 }, 'a payload that fails its crc ends the valid prefix')
})

t.test('splitRecords takes only whole records of what was read', async t => {
  const data = framed(t)
  const into: Buffer[] = []
  const upTo = data.length - 10
  t.equal(splitRecords(data, upTo, into), data.length - HEADER - 300)
  t.equal(into.length, 2)
  const none: Buffer[] = []
  t.equal(splitRecords(data, HEADER - 1, none), 0, 'less than a header: nothing')
  t.equal(none.length, 0)
})
