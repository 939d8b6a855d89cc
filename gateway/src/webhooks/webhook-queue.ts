// One webhook's durable queue, in its own folder under DATA_DIR/webhooks/
// (DATA_DIR/webhooks-<i>/ for gateway worker i > 0: one writer per folder):
// queue.jsonl holds the deliveries (appended and fsynced before enqueue
// resolves), acks.jsonl the numbers of those done (delivered or dead; not
// fsynced: a lost ack is a redelivery, which at least once allows), and
// dead.jsonl the dead letters (fsynced). Writes go through one serial runner
// that groups what arrives meanwhile into one write and one fsync. When most
// of queue.jsonl is acked, it is rewritten with what is pending (a new file
// renamed over it) and acks.jsonl is emptied.
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { open, rename, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { WebhookAlert as Alert } from '../../../schemas/types.js'

/** A delivery waiting: `n` numbers it in its queue, `enq` is when it was queued (ms). */
export interface QueuedDelivery { n: number, alert: Alert, enq: number }

export interface DeadLetter { n: number, alert: Alert, enq: number, dead: number, attempts: number, error: string }

export interface WebhookQueue {
  /** What waits, oldest first. */
  pending: () => IterableIterator<QueuedDelivery>
  size: () => number
  /** Whether a delivery of this alert id waits already. */
  has: (alertId: string) => boolean
  /** Resolves once the deliveries are on disk (fsynced). */
  append: (alerts: Alert[]) => Promise<void>
  /** The delivery is done (2xx). */
  ack: (n: number) => void
  /** The delivery is given up: recorded in dead.jsonl (fsynced), then acked. */
  bury: (letter: DeadLetter) => Promise<void>
  /** Re-queues the dead letters that died at or before `before` (ms); resolves with how many. */
  revive: (before: number) => Promise<number>
  close: () => Promise<void>
  /** Closes and removes the folder (the webhook was deleted). */
  destroy: () => Promise<void>
}

/** How many acked lines make a rewrite of queue.jsonl worth it (and more than half the file). */
const COMPACT_AFTER = 1000

/** Gateway worker i's queues (GATEWAY_WORKERS): 0 keeps the single-process path, as the spools do. */
export function webhookQueueRoot (dataDir: string, worker = 0): string {
  return join(dataDir, worker === 0 ? 'webhooks' : `webhooks-${worker}`)
}

export function webhookQueueDir (dataDir: string, webhookId: string, worker = 0): string {
  return join(webhookQueueRoot(dataDir, worker), webhookId)
}

function jsonLines<T> (file: string): T[] {
  let text = ''
  try { text = readFileSync(file, 'utf8') } catch { return [] }
  const out: T[] = []
  for (const l of text.split('\n')) {
    if (!l.trim()) continue
    // a torn last line (a crash mid-write) was never acknowledged to anyone
    try { out.push(JSON.parse(l) as T) } catch {}
  }
  return out
}

/** The dead letters of a webhook on this DATA_DIR (every gateway worker's), oldest first. */
export function readDeadLetters (dataDir: string, webhookId: string): DeadLetter[] {
  let roots: string[] = []
  try { roots = readdirSync(dataDir).filter(n => /^webhooks(-\d+)?$/.test(n)) } catch { return [] }
  return roots.flatMap(r => jsonLines<DeadLetter>(join(dataDir, r, webhookId, 'dead.jsonl'))).sort((a, b) => a.dead - b.dead)
}

type Op =
  | { kind: 'append', alerts: Alert[], done: () => void, fail: (err: Error) => void }
  | { kind: 'ack', n: number }
  | { kind: 'bury', letter: DeadLetter, done: () => void, fail: (err: Error) => void }
  | { kind: 'revive', before: number, done: (n: number) => void, fail: (err: Error) => void }

export async function openWebhookQueue (dataDir: string, webhookId: string, worker = 0): Promise<WebhookQueue> {
  const dir = webhookQueueDir(dataDir, webhookId, worker)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const files = { queue: join(dir, 'queue.jsonl'), acks: join(dir, 'acks.jsonl'), dead: join(dir, 'dead.jsonl') }

  const acked = new Set(jsonLines<number>(files.acks))
  const pending = new Map<number, QueuedDelivery>()
  const byAlert = new Map<string, number>()
  let nextN = 0
  let lines = 0
  for (const e of jsonLines<QueuedDelivery>(files.queue)) {
    lines++
    if (typeof e.n !== 'number' || typeof e.alert?.id !== 'string') continue
    nextN = Math.max(nextN, e.n + 1)
    if (!acked.has(e.n) && !byAlert.has(e.alert.id)) { pending.set(e.n, e); byAlert.set(e.alert.id, e.n) }
  }
  let ackedLines = acked.size

  let queueFh: FileHandle = await open(files.queue, 'a', 0o600)
  const acksFh: FileHandle = await open(files.acks, 'a', 0o600)
  let ops: Op[] = []
  let running: Promise<void> | null = null
  let closed = false

  function take (e: QueuedDelivery): void {
    pending.set(e.n, e)
    byAlert.set(e.alert.id, e.n)
  }

  async function writeQueue (entries: QueuedDelivery[]): Promise<void> {
    if (entries.length === 0) return
    await queueFh.appendFile(entries.map(e => JSON.stringify(e) + '\n').join(''))
    await queueFh.datasync()
    lines += entries.length
  }

  async function compact (): Promise<void> {
    const tmp = files.queue + '.tmp'
    const fh = await open(tmp, 'w', 0o600)
    try {
      await fh.appendFile([...pending.values()].map(e => JSON.stringify(e) + '\n').join(''))
      await fh.datasync()
    } finally { await fh.close() }
    await queueFh.close()
    await rename(tmp, files.queue)
    const d = await open(dir, 'r')
    try { await d.sync() } finally { await d.close() }
    queueFh = await open(files.queue, 'a', 0o600)
    // acks of lines no longer in queue.jsonl mean nothing now
    await acksFh.truncate(0)
    lines = pending.size
    ackedLines = 0
  }

  async function step (batch: Op[]): Promise<void> {
    const appends = batch.filter(o => o.kind === 'append')
    const now = Date.now()
    const entries: QueuedDelivery[] = []
    const seen = new Set<string>()
    for (const o of appends) {
      for (const alert of o.alerts) {
        if (byAlert.has(alert.id) || seen.has(alert.id)) continue
        seen.add(alert.id)
        entries.push({ n: nextN++, alert, enq: now })
      }
    }
    try {
      await writeQueue(entries)
      for (const e of entries) take(e)
      for (const o of appends) o.done()
    } catch (err) {
      for (const o of appends) o.fail(err as Error)
    }
    const acks = batch.filter(o => o.kind === 'ack').map(o => o.n)
    if (acks.length > 0) {
      await acksFh.appendFile(acks.map(n => `${n}\n`).join(''))
      ackedLines += acks.length
    }
    for (const o of batch) {
      if (o.kind === 'bury') {
        try {
          const fh = await open(files.dead, 'a', 0o600)
          try { await fh.appendFile(JSON.stringify(o.letter) + '\n'); await fh.datasync() } finally { await fh.close() }
          await acksFh.appendFile(`${o.letter.n}\n`)
          ackedLines++
          o.done()
        } catch (err) { o.fail(err as Error) }
      } else if (o.kind === 'revive') {
        try { o.done(await revive(o.before)) } catch (err) { o.fail(err as Error) }
      }
    }
    if (ackedLines >= COMPACT_AFTER && ackedLines * 2 >= lines) await compact()
  }

  async function revive (before: number): Promise<number> {
    const dead = jsonLines<DeadLetter>(files.dead)
    const back = dead.filter(d => d.dead <= before)
    if (back.length === 0) return 0
    const now = Date.now()
    const entries: QueuedDelivery[] = []
    for (const d of back) if (!byAlert.has(d.alert.id)) entries.push({ n: nextN++, alert: d.alert, enq: now })
    // queued (fsynced) before they leave dead.jsonl: a crash between leaves a duplicate, never a loss
    await writeQueue(entries)
    for (const e of entries) take(e)
    const keep = dead.filter(d => d.dead > before)
    const tmp = files.dead + '.tmp'
    const fh = await open(tmp, 'w', 0o600)
    try { await fh.appendFile(keep.map(d => JSON.stringify(d) + '\n').join('')); await fh.datasync() } finally { await fh.close() }
    await rename(tmp, files.dead)
    return back.length
  }

  function kick (): void {
    if (running) return
    running = (async () => {
      while (ops.length > 0) {
        const batch = ops
        ops = []
        await step(batch).catch(() => {})
      }
      running = null
    })()
  }

  function push<T> (make: (done: (v: T) => void, fail: (err: Error) => void) => Op): Promise<T> {
    if (closed) return Promise.reject(new Error('webhook queue closed'))
    return new Promise<T>((resolve, reject) => { ops.push(make(resolve, reject)); kick() })
  }

  function forget (n: number): void {
    const e = pending.get(n)
    if (!e) return
    pending.delete(n)
    if (byAlert.get(e.alert.id) === n) byAlert.delete(e.alert.id)
  }

  async function close (): Promise<void> {
    closed = true
    while (running) await running
    await queueFh.close()
    await acksFh.close()
  }

  return {
    pending: () => pending.values(),
    size: () => pending.size,
    has: id => byAlert.has(id),
    append: alerts => alerts.length === 0 ? Promise.resolve() : push<void>((done, fail) => ({ kind: 'append', alerts, done: () => done(), fail })),
    ack (n) {
      forget(n)
      if (!closed) { ops.push({ kind: 'ack', n }); kick() }
    },
    bury (letter) {
      forget(letter.n)
      return push<void>((done, fail) => ({ kind: 'bury', letter, done: () => done(), fail }))
    },
    revive: before => push<number>((done, fail) => ({ kind: 'revive', before, done, fail })),
    close,
    async destroy () {
      await close()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
