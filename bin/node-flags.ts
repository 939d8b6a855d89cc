// V8 flags for fleetgate's processes. Node sizes the heap when it starts
// (v8.setFlagsFromString is too late), so they are on every command line that
// starts one: package.json's scripts, bin/fleetgate.js's first line, the
// Dockerfile and the benchmarks' gateway child. test/node-flags.test.ts checks
// all of them.
//
// --max-semi-space-size=64 (MB; Node 20's default is 16): nearly all a reading
// allocates is dead within milliseconds, so a larger young generation is
// scavenged less often for the same survivors: less GC time for some more
// peak RSS. npm run bench -- profile (GC time, PUBACK p99) and
// npm run bench -- memory --node-args (RSS) measure both sides.
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64']
