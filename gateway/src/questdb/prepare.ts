// QuestDB's side of a gateway start, in the background: create the tables and
// probe the ILP protocol, retrying with backoff until QuestDB answers. The
// broker listens and the spool accepts meanwhile; only the spool's drain waits
// for the tables (an ILP write would create them itself, without DEDUP keys).
import type { Logger } from 'pino'
import type { IlpProtocolVersion } from './tables.js'
import { createTables, ilpProtocolVersion } from './tables.js'

export interface QuestDbPreparation {
  /** Resolves once the tables exist (never rejects; stays pending while QuestDB is unreachable). */
  tablesReady: Promise<void>
  /** Resolves after the first attempt, whatever its outcome. */
  firstAttempt: Promise<void>
  state: () => { tables: boolean, ilpProtocol: IlpProtocolVersion, protocolProbed: boolean }
  /** Stops retrying. */
  close: () => void
}

export interface PrepareOptions {
  httpUrl: string
  retentionDays: number
  protocol: 'auto' | '1' | '2'
  log: Logger
  /** Called once the protocol is known, when it differs from the one in use. */
  onProtocol: (version: IlpProtocolVersion) => void
  backoffMinMs?: number
  backoffMaxMs?: number
}

export function prepareQuestDb (opts: PrepareOptions): QuestDbPreparation {
  const { log } = opts
  // until /settings answers: the configured protocol, or 1, which every QuestDB reads
  let ilpProtocol: IlpProtocolVersion = opts.protocol === '2' ? 2 : 1
  let tables = false
  let protocolProbed = opts.protocol !== 'auto'
  let closed = false
  let wake: (() => void) | null = null
  let markReady: () => void = () => {}
  const tablesReady = new Promise<void>(resolve => { markReady = resolve })
  let markTried: () => void = () => {}
  const firstAttempt = new Promise<void>(resolve => { markTried = resolve })

  async function retry (what: string, step: () => Promise<void>, onFirstFailure = () => {}): Promise<boolean> {
    let backoff = opts.backoffMinMs ?? 500
    for (let attempt = 1; !closed; attempt++) {
      try {
        await step()
        if (attempt > 1) log.info({ attempts: attempt }, `${what} done`)
        return true
      } catch (err) {
        if (attempt === 1) onFirstFailure()
        log.warn({ err, retryInMs: backoff }, `${what} failed, retrying`)
        await new Promise<void>(resolve => {
          // unref: retrying alone does not keep a process alive
          const timer = setTimeout(resolve, backoff).unref()
          wake = () => { clearTimeout(timer); resolve() }
        })
        wake = null
        backoff = Math.min(backoff * 2, opts.backoffMaxMs ?? 10000)
      }
    }
    return false
  }

  void (async () => {
    if (!await retry('questdb tables', async () => { await createTables(opts.httpUrl, opts.retentionDays) }, markTried)) return
    tables = true
    markReady()
    if (protocolProbed) { markTried(); return }
    await retry('questdb ilp protocol probe', async () => {
      const version = await ilpProtocolVersion(opts.httpUrl, opts.protocol)
      protocolProbed = true
      if (version !== ilpProtocol) {
        ilpProtocol = version
        opts.onProtocol(version)
      }
      log.info({ ilpProtocol }, 'ilp protocol chosen')
    }, markTried)
    markTried()
  })()

  return {
    tablesReady,
    firstAttempt,
    state: () => ({ tables, ilpProtocol, protocolProbed }),
    close () {
      closed = true
      wake?.()
    }
  }
}
