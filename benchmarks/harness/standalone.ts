// What the standalone query benchmarks (api, trips) share: progress lines on
// stderr while they seed, and request-time percentiles.

export const progress = (msg: string, data: object = {}): void => { process.stderr.write(`${new Date().toISOString()} ${msg} ${JSON.stringify(data)}\n`) }

/** The p-th percentile (nearest rank) of ascending `sorted`. */
export function percentile (sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)] as number
}
