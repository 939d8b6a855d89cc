import t from 'tap'
import { freePorts } from '../free-ports.js'

t.test('free ports for QuestDB are distinct, even when the kernel would hand one out again', async t => {
  // bound and closed one at a time, 4 ports repeated one in about 2,000 rounds here
  let repeated = 0
  for (let i = 0; i < 3000; i++) {
    const ports = await freePorts(4)
    if (new Set(ports).size < 4) repeated++
  }
  t.equal(repeated, 0, 'no round of 3,000 gave a port twice')
})
