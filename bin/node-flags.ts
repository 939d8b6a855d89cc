// V8 flags for fleetgate's processes. Node sizes the heap when it starts
// (v8.setFlagsFromString is too late), so they are on every command line that
// starts one: package.json's scripts, bin/fleetgate.js's first line, the
// Dockerfile and the benchmarks' gateway child. test/node-flags.test.ts checks
// all of them.
//
// --max-semi-space-size=64 (MB; Node 20's default is 16): a reading allocates
// about 12 KB, nearly all of it dead within milliseconds, so a larger young
// generation is scavenged less often for the same survivors. 16 -> 32 MB at
// 15,000 QoS 1 readings/s (two pairs): GC time in 30 s 2.96 -> 1.43 and
// 2.67 -> 2.08 s, PUBACK p99 307 -> 88 and 310 -> 170 ms. 32 -> 64 MB at
// 20,000/s with the live probe (six pairs, benchmarks/README.md session 8):
// GC time 2.65 -> 1.79 s on average, lower in all six; PUBACK p99 median
// 104 -> 96 ms; peak RSS with 10,000 vehicles 321 -> 374 MB.
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64']
