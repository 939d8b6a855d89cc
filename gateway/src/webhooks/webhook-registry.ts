// Webhooks are fleet configuration, kept like device tokens and API keys: an
// append-only JSON-lines file, DATA_DIR/webhooks.jsonl (mode 0600: it holds
// the signing secrets, which must stay in clear to sign), written by the admin
// API and followed by every gateway on that DATA_DIR; the Redis registry
// stream carries its lines to other machines. A line registers a webhook,
// deletes one, or asks the gateways to re-queue its dead letters.
import { randomBytes } from 'node:crypto'
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { WebhookAlert as Alert, WebhookSecret } from '../../../schemas/types.js'
import { appendedLines } from '../broker/appended-lines.js'

export const WEBHOOKS_FILE = 'webhooks.jsonl'
export const WEBHOOK_ID = /^wh_[0-9a-f]{16}$/

/** A registered webhook as the gateways hold it: with its secret, as registration shows it once (webhook-secret.schema.json). */
export type StoredWebhook = WebhookSecret

export type WebhookInfo = Omit<StoredWebhook, 'secret'>

export type WebhookLine =
  | ({ op: 'register' } & StoredWebhook)
  | { op: 'delete', id: string, at: string }
  | { op: 'retry', id: string, at: string }

export interface WebhookSpec { url: string, rule_ids?: string[], types?: string[], secret?: string, name?: string }

export function webhooksFile (dataDir: string): string {
  return join(dataDir, WEBHOOKS_FILE)
}

/** Why a URL cannot be a webhook's, or null when it can. */
export function webhookUrlProblem (url: string): string | null {
  let u: URL
  try { u = new URL(url) } catch { return `not an absolute URL: ${JSON.stringify(url.slice(0, 100))}` }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `the scheme must be http or https, not ${u.protocol.replace(/:$/, '')}`
  // credentials in a URL end up in listings and logs; the signature authenticates instead
  if (u.username !== '' || u.password !== '') return 'no user or password in the URL: receivers authenticate deliveries by their signature'
  if (u.hash !== '') return 'no fragment (#...) in a webhook URL'
  return null
}

/** Whether the webhook wants the alert: no filter takes all; with both filters, both must match. */
export function wants (hook: Pick<StoredWebhook, 'rule_ids' | 'types'>, alert: Alert): boolean {
  if (hook.types.length > 0 && !hook.types.includes(alert.type)) return false
  if (hook.rule_ids.length > 0 && (alert.rule_id === undefined || !hook.rule_ids.includes(alert.rule_id))) return false
  return true
}

function append (dataDir: string, line: WebhookLine): void {
  mkdirSync(dataDir, { recursive: true })
  appendFileSync(webhooksFile(dataDir), JSON.stringify(line) + '\n', { mode: 0o600 })
}

/** Registers a webhook (the URL checked by webhookUrlProblem first); returns it with its secret, the only time the API shows it. */
export function registerWebhook (dataDir: string, spec: WebhookSpec): StoredWebhook {
  const problem = webhookUrlProblem(spec.url)
  if (problem !== null) throw new Error(problem)
  const hook: StoredWebhook = {
    id: 'wh_' + randomBytes(8).toString('hex'),
    url: spec.url,
    rule_ids: [...spec.rule_ids ?? []],
    types: [...spec.types ?? []],
    name: spec.name ?? '',
    created: new Date().toISOString(),
    secret: spec.secret ?? 'whsec_' + randomBytes(32).toString('base64url')
  }
  append(dataDir, { op: 'register', ...hook })
  return hook
}

/** The webhooks, and the ids deleted: a register line replayed after its delete stays deleted. */
export interface WebhookState { hooks: Map<string, StoredWebhook>, deleted: Set<string> }

function emptyState (): WebhookState {
  return { hooks: new Map(), deleted: new Set() }
}

/** Folds one line into the state; returns what changed, or null for a line that changes nothing. */
export function foldWebhookLine (state: WebhookState, text: string): WebhookLine | null {
  const { hooks } = state
  let line: WebhookLine
  try { line = JSON.parse(text) as WebhookLine } catch { return null }
  if (line === null || typeof line !== 'object' || typeof line.id !== 'string' || !WEBHOOK_ID.test(line.id)) return null
  if (line.op === 'register') {
    if (typeof line.url !== 'string' || webhookUrlProblem(line.url) !== null || typeof line.secret !== 'string' || line.secret === '') return null
    // a replay of a line already applied (the stream re-reads) changes nothing
    if (hooks.has(line.id) || state.deleted.has(line.id)) return null
    const strings = (x: unknown): string[] => Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string') : []
    const hook: StoredWebhook = { id: line.id, url: line.url, rule_ids: strings(line.rule_ids), types: strings(line.types), name: typeof line.name === 'string' ? line.name : '', created: typeof line.created === 'string' ? line.created : '', secret: line.secret }
    hooks.set(hook.id, hook)
    return { op: 'register', ...hook }
  }
  if (typeof line.at !== 'string') return null
  if (line.op === 'delete') {
    state.deleted.add(line.id)
    return hooks.delete(line.id) ? line : null
  }
  if (line.op === 'retry') return hooks.has(line.id) ? line : null
  return null
}

/** Every webhook in the file, in the state its lines left it (for the admin API, not the hot path). */
export function readWebhooks (dataDir: string): Map<string, StoredWebhook> {
  const state = emptyState()
  const file = webhooksFile(dataDir)
  if (!existsSync(file)) return state.hooks
  for (const l of readFileSync(file, 'utf8').split('\n')) if (l.trim()) foldWebhookLine(state, l)
  return state.hooks
}

export function withoutSecret (hook: StoredWebhook): WebhookInfo {
  const { secret: _secret, ...info } = hook
  return info
}

/** Deletes a webhook; false when there is none with that id. Its pending deliveries are dropped. */
export function deleteWebhook (dataDir: string, id: string): boolean {
  if (!readWebhooks(dataDir).has(id)) return false
  append(dataDir, { op: 'delete', id, at: new Date().toISOString() })
  return true
}

/** Asks every gateway to re-queue the webhook's dead letters that died before now; null when there is no such webhook. */
export function requestDeadLetterRetry (dataDir: string, id: string): string | null {
  if (!readWebhooks(dataDir).has(id)) return null
  const at = new Date().toISOString()
  append(dataDir, { op: 'retry', id, at })
  return at
}

export interface WebhookFollower {
  hooks: Map<string, StoredWebhook>
  /** What was appended since the last read, as changes in file order. */
  refresh: () => WebhookLine[]
  /** A line from another node (the registry stream). */
  apply: (text: string) => WebhookLine | null
}

/** Follows DATA_DIR/webhooks.jsonl from its start. */
export function followWebhooks (dataDir: string): WebhookFollower {
  const state = emptyState()
  const next = appendedLines(webhooksFile(dataDir))
  return {
    hooks: state.hooks,
    refresh () {
      const changes: WebhookLine[] = []
      for (const l of next().lines) {
        if (!l.trim()) continue
        const c = foldWebhookLine(state, l)
        if (c !== null) changes.push(c)
      }
      return changes
    },
    apply: text => foldWebhookLine(state, text)
  }
}
