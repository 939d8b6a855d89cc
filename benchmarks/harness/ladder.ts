// The rates a benchmark ladder tries: from `start`, each `factor` times the
// last while every step holds and the rate is at most `max`; then `refine`
// halvings of the gap between the highest rate that held and the lowest that
// did not, so the sustained figure is not a whole factor below the real one.
// `step(rate)` runs one step and says whether it held.
export interface LadderPlan { start: number, max: number, factor: number, refine: number }

export async function climb (plan: LadderPlan, step: (rate: number) => Promise<boolean>): Promise<{ held: number, failed: number }> {
  let held = 0
  let failed = 0
  for (let rate = plan.start; rate <= plan.max; rate = Math.round(rate * plan.factor)) {
    if (!await step(rate)) { failed = rate; break }
    held = rate
  }
  for (let i = 0; i < plan.refine && failed > 0; i++) {
    const rate = Math.round((held + failed) / 2)
    if (rate <= held || rate >= failed) break
    if (await step(rate)) held = rate
    else failed = rate
  }
  return { held, failed }
}

/**
 * One step at a time, in the order they were asked for: ladders of several
 * sides climbing at once through it alternate their steps (A B A B), so a
 * phase of a shared machine weighs on every side.
 */
export function turns (): <T>(fn: () => Promise<T>) => Promise<T> {
  let last: Promise<unknown> = Promise.resolve()
  return async fn => {
    const mine = last.then(fn, fn)
    last = mine.catch(() => {})
    return await mine
  }
}
