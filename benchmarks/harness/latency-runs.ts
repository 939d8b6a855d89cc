// The latency figures of a benchmark as a distribution over repeated runs at
// the same rate. On a shared machine one run's p99 says as much about the
// machine's phase as about the code (the same code's p99 at 20,000/s varies
// several-fold between runs), so each latency target is
// reported as the median over the runs and as how many runs met it.

/** One latency run's figures (all numbers: rates, percentiles, counts). */
export type RunFigures = Record<string, number>

/** The figures whose every run is kept, so the report can count runs under a target: the p99s. */
const SPREAD = /P99Ms$/

export interface Repeated {
  [field: string]: number | number[]
  /** How many runs these figures are the median of. */
  runs: number
}

/** The median of a non-empty list (the mean of the two middle values for an even count). */
export function median (xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError('median of nothing')
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] as number : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

/**
 * Each field's median over the runs, and for each p99 (`…P99Ms`) the list of
 * every run's value (`<field>Runs`, in run order). A field some run lacks is
 * left out rather than taken from fewer runs.
 */
export function aggregateRuns (runs: readonly RunFigures[]): Repeated {
  if (runs.length === 0) throw new RangeError('no runs to aggregate')
  const out: Repeated = { runs: runs.length }
  const fields = Object.keys(runs[0] as RunFigures).filter(k => runs.every(r => typeof r[k] === 'number' && Number.isFinite(r[k])))
  for (const k of fields) {
    const values = runs.map(r => r[k] as number)
    out[k] = median(values)
    if (SPREAD.test(k)) out[`${k}Runs`] = values
  }
  return out
}

/** "met (5 of 5 runs)", "met in 3 of 5 runs", "NOT met (0 of 5 runs)"; for one run, "met" or "NOT met". */
export function runsVerdict (values: readonly number[], under: number): string {
  const n = values.length
  const k = values.filter(v => v < under).length
  if (n === 1) return k === 1 ? 'met' : 'NOT met'
  if (k === n) return `met (${n} of ${n} runs)`
  if (k === 0) return `NOT met (0 of ${n} runs)`
  return `met in ${k} of ${n} runs`
}
