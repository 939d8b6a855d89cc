// The one bounding box of GET /positions and the live feed: its check and
// its containment test, across the antimeridian.
import t from 'tap'
import { bboxProblem, inBox } from '../src/bbox.js'

t.test('inBox with the antimeridian', async t => {
  const box: [number, number, number, number] = [170, -10, -170, 10]
  t.ok(inBox(0, 179.9, box))
  t.ok(inBox(0, -179.9, box))
  t.ok(inBox(0, 180, box))
  t.notOk(inBox(0, 0, box))
  t.notOk(inBox(0, 169.9, box))
  t.notOk(inBox(11, 175, box))
  t.ok(inBox(-90, -180, [-180, -90, 180, 90]))
})

t.test('bboxProblem says what is wrong, or null', async t => {
  t.equal(bboxProblem([-180, -90, 180, 90]), null, 'the whole world')
  t.equal(bboxProblem([170, -20, -170, 20]), null, 'across the antimeridian')
  t.equal(bboxProblem([0, 0, 1]), 'four finite numbers')
  t.equal(bboxProblem([0, 0, 1, Number.NaN]), 'four finite numbers')
  t.equal(bboxProblem([0, 0, 181, 5]), 'longitudes in [-180, 180]')
  t.equal(bboxProblem([0, -91, 1, 5]), 'latitudes in [-90, 90]')
  t.equal(bboxProblem([0, 10, 1, 5]), 'minLat <= maxLat')
})
