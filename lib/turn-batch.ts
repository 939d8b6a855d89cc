// One batch per turn of the event loop, cut short in a long turn: `flush` runs
// in the check phase of the turn that opened the batch, or as soon as
// `cutIfOld()` finds the batch maxMs old. Under load one turn reads thousands
// of publishes, and the first of them would otherwise wait for the last to be
// parsed. Used by the spool's group commit, the live feed's client flushes and
// the gateway's live batches for api processes apart from it. `flush` must
// accept an empty batch (the check phase may find one already cut).
export interface TurnBatch {
  /** The batch got its first item. */
  opened: () => void
  /** The batch got another item: flush now if its first is maxMs old. */
  cutIfOld: () => void
}

export function turnBatch (flush: () => void, maxMs: number): TurnBatch {
  let scheduled = false
  let since = 0
  function onImmediate (): void {
    scheduled = false
    flush()
  }
  return {
    opened () {
      since = performance.now()
      if (!scheduled) { scheduled = true; setImmediate(onImmediate) }
    },
    cutIfOld () {
      if (performance.now() - since >= maxMs) flush()
    }
  }
}
