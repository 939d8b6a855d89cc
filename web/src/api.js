// HTTP to the fleetgate api. The API key lives in sessionStorage (or
// localStorage when the operator asks to be remembered) and travels only in
// the Authorization header, never in a URL that a proxy or access log keeps.

const KEY_NAME = 'fleetgate.apiKey'

export function getKey () {
  return sessionStorage.getItem(KEY_NAME) ?? localStorage.getItem(KEY_NAME) ?? ''
}

export function setKey (key, remember) {
  sessionStorage.removeItem(KEY_NAME)
  localStorage.removeItem(KEY_NAME)
  if (!key) return
  if (remember) localStorage.setItem(KEY_NAME, key)
  else sessionStorage.setItem(KEY_NAME, key)
}

export class ApiError extends Error {
  constructor (status, problem) {
    super(problem?.detail ?? `HTTP ${status}`)
    this.status = status
    this.code = problem?.code
  }

  /** The route itself does not exist on this server (an older api), as opposed to a 404 for a thing. */
  get routeMissing () {
    return this.status === 404 && this.code === 'API_ERR_NOT_FOUND' && /^no route /.test(this.message)
  }
}

const listeners = new Set()
/** Called with no argument when a request was refused for want of a (valid) key. */
export function onUnauthorized (fn) { listeners.add(fn) }

/** @param {string} path @param {{ signal?: AbortSignal }} [opts] */
export async function api (path, { signal } = {}) {
  const headers = { accept: 'application/json' }
  const key = getKey()
  if (key) headers.authorization = `Bearer ${key}`
  const res = await fetch(path, { headers, signal, cache: 'no-store' })
  const body = await res.json().catch(() => null)
  if (!res.ok) {
    if (res.status === 401 || res.status === 403) for (const fn of listeners) fn()
    throw new ApiError(res.status, body)
  }
  return body
}

export function qs (params) {
  const u = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, String(v))
  return u.toString()
}
