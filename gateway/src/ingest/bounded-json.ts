// JSON text of a parsed document with bounded work: `JSON.stringify` of
// attacker-controlled nesting overflows the stack (RangeError), which thrown
// inside Aedes' authorizePublish disconnected the vehicle with no answer.

export interface BoundedJson {
  /** The JSON text, or its first `maxChars` characters when `complete` is false. */
  text: string
  /** False when the text was cut at `maxChars` or the value nests deeper than `maxDepth`. */
  complete: boolean
}

class Cut extends Error {}

/**
 * Serialises a value that came from `JSON.parse` (null, booleans, finite
 * numbers, strings, arrays, plain objects) as `JSON.stringify` would, and
 * stops at `maxChars` characters or `maxDepth` levels of nesting.
 */
export function boundedJson (value: unknown, maxChars: number, maxDepth = 64): BoundedJson {
  const parts: string[] = []
  let length = 0
  let complete = true

  function put (s: string): void {
    parts.push(s)
    length += s.length
    if (length > maxChars) throw new Cut()
  }

  function write (v: unknown, depth: number): void {
    if (v === null || typeof v !== 'object') {
      put(JSON.stringify(v) ?? 'null')
      return
    }
    if (depth >= maxDepth) {
      complete = false
      throw new Cut()
    }
    if (Array.isArray(v)) {
      put('[')
      for (let i = 0; i < v.length; i++) {
        if (i > 0) put(',')
        write(v[i], depth + 1)
      }
      put(']')
      return
    }
    put('{')
    let first = true
    for (const key of Object.keys(v)) {
      const item = (v as Record<string, unknown>)[key]
      if (item === undefined) continue
      if (!first) put(',')
      first = false
      put(JSON.stringify(key))
      put(':')
      write(item, depth + 1)
    }
    put('}')
  }

  try {
    write(value, 0)
  } catch (err) {
    if (!(err instanceof Cut)) throw err
    complete = false
  }
  const text = parts.join('')
  return { text: text.length > maxChars ? text.slice(0, maxChars) : text, complete }
}
