// Latency percentiles over a bounded reservoir (exact below its size).
export class LatencyRecorder {
  private samples: number[] = []
  private seen = 0
  max = 0
  constructor (private readonly capacity = 200000, private readonly rng: () => number = Math.random) {}

  record (ms: number): void {
    this.seen++
    if (ms > this.max) this.max = ms
    if (this.samples.length < this.capacity) this.samples.push(ms)
    else {
      const j = Math.floor(this.rng() * this.seen)
      if (j < this.capacity) this.samples[j] = ms
    }
  }

  count (): number { return this.seen }

  percentile (p: number): number {
    if (this.samples.length === 0) return 0
    const sorted = [...this.samples].sort((a, b) => a - b)
    const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))
    return sorted[idx] as number
  }

  summary (): { p50: number, p90: number, p99: number, max: number } {
    const r = (x: number): number => Math.round(x * 100) / 100
    return { p50: r(this.percentile(50)), p90: r(this.percentile(90)), p99: r(this.percentile(99)), max: r(this.max) }
  }
}
