// Reading a node's /metrics in the scale-out tests.

export async function text (url: string): Promise<string> {
  return await (await fetch(url)).text()
}

/** The sum of a metric's samples that carry `label` (every worker's, with workers). */
export function metricSum (body: string, name: string, label = ''): number {
  let n = 0
  for (const m of body.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm'))) if ((m[1] as string).includes(label)) n += Number(m[2])
  return n
}
