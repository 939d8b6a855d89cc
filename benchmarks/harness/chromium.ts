// Headless Chromium for the map page's tests and benchmark: Debian's
// `chromium` (the machine has no internet, so no `playwright install`),
// driven by playwright-core, with a fresh profile that is removed afterwards.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

export function chromiumAvailable (): boolean {
  return existsSync(CHROMIUM)
}

/** A browser with a fresh profile (playwright takes the --user-data-dir as the persistent context's directory). */
export async function launchChromium (viewport = { width: 1280, height: 800 }): Promise<{ context: BrowserContext, page: Page, close: () => Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'fleetgate-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync']
  })
  const page = context.pages()[0] ?? await context.newPage()
  return {
    context,
    page,
    async close () {
      await context.close().catch(() => {})
      rmSync(profile, { recursive: true, force: true })
    }
  }
}

export interface ConsoleLog { type: string, text: string, url: string }

/** Records console errors and warnings and uncaught exceptions of a page. */
export function recordConsole (page: Page): ConsoleLog[] {
  const logs: ConsoleLog[] = []
  page.on('console', m => { if (m.type() === 'error' || m.type() === 'warning') logs.push({ type: m.type(), text: m.text(), url: m.location().url }) })
  page.on('pageerror', err => { logs.push({ type: 'pageerror', text: String(err.stack ?? err), url: '' }) })
  return logs
}

/** Reads the page's read-only debug hook, window.__fleetgate. */
export async function hook<T> (page: Page, expr: string): Promise<T> {
  return await page.evaluate(`window.__fleetgate && window.__fleetgate.${expr}`) as T
}

/**
 * Polls an expression until it is truthy. Not page.waitForFunction: that one
 * compiles its predicate inside the page, which the api's Content-Security-
 * Policy (script-src 'self', no 'unsafe-eval') rightly refuses; page.evaluate
 * goes through the DevTools protocol and is not subject to it.
 */
export async function waitForExpression<T> (page: Page, expression: string, timeout = 30000): Promise<T> {
  const deadline = Date.now() + timeout
  for (;;) {
    const value = await page.evaluate(expression) as T
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${expression}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

export async function waitFor<T> (page: Page, expr: string, timeout = 30000): Promise<T> {
  return await waitForExpression<T>(page, `window.__fleetgate && (${expr.replace(/\$\./g, 'window.__fleetgate.')})`, timeout)
}
