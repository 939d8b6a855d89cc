// The map page: web/ (plain ES modules, no build step) at the root, and the
// browser files of two npm packages (Leaflet, uPlot) under /vendor/, served
// from node_modules so that the page needs no CDN. /map-config.json tells the
// page what it cannot know by itself (the tile server).
import fp from 'fastify-plugin'
import fastifyStatic from '@fastify/static'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface WebOptions {
  /** Raster tile URL template, or 'none' for the graticule only. */
  tileUrl: string
  tileAttribution: string
}

export const WEB_DIR = fileURLToPath(new URL('../../../web/', import.meta.url))
const PAGE_FILES = /^\/(|index\.html|app\.css|src\/[a-z0-9-]+\.js)$/

const require = createRequire(import.meta.url)
function distOf (pkg: string): string {
  return join(dirname(require.resolve(`${pkg}/package.json`)), 'dist')
}

export default fp<WebOptions>(async function web (fastify, opts) {
  // wildcard: false registers one route per file found at start instead of a
  // catch-all, so unknown /api paths keep answering problem+json 404s.
  await fastify.register(fastifyStatic, {
    root: WEB_DIR,
    prefix: '/',
    wildcard: false,
    // the page and nothing else of web/ (not its tests, artifacts or tsconfig)
    allowedPath: (path) => PAGE_FILES.test(path),
    cacheControl: true,
    maxAge: 0
  })
  for (const [name, pkg] of [['leaflet', 'leaflet'], ['uplot', 'uplot']] as const) {
    await fastify.register(fastifyStatic, {
      root: distOf(pkg),
      prefix: `/vendor/${name}/`,
      wildcard: false,
      decorateReply: false,
      maxAge: 3600e3
    })
  }
  // which optional endpoints this api has, so that the page never calls a
  // missing one (a 404 is a console error on a page kept open all day)
  const has = (url: string): boolean => fastify.hasRoute({ method: 'GET', url })
  fastify.get('/map-config.json', async () => ({
    tile_url: opts.tileUrl === 'none' ? null : opts.tileUrl,
    tile_attribution: opts.tileAttribution,
    endpoints: {
      track: has('/api/v1/vehicles/:id/track'),
      stats: has('/api/v1/stats'),
      rejections: has('/api/v1/rejections')
    }
  }))
}, { name: 'web' })
