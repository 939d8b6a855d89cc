// V8 flags for fleetgate's processes. Node sizes the heap when it starts
// (v8.setFlagsFromString is too late), so they are on every command line that
// starts one: package.json's scripts, bin/fleetgate.js's first line, the
// Dockerfile and the benchmarks' gateway child. test/node-flags.test.ts checks
// all of them.
//
// --max-semi-space-size=32 (MB; Node 20's default is 16): a reading allocates
// about 15 KB, nearly all of it dead within milliseconds, so a young
// generation twice as large is scavenged half as often for the same survivors.
// At 15,000 QoS 1 readings/s, 16 and 32 MB alternating (two pairs): the
// gateway's GC time in 30 s 2.96 -> 1.43 and 2.67 -> 2.08 s, CPU per reading
// 59.7 -> 52.8 and 57.3 -> 57.5 us, PUBACK p99 307 -> 88 and 310 -> 170 ms,
// peak RSS 211 -> 250 and 208 -> 267 MB. 64 MB saved a little more CPU than 32
// for about 60 MB more RSS.
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=32']
