// The shared schemas (schemas/api/*.schema.json) and the OpenAPI document
// generated from them and from the routes: /openapi.json and /docs.
// Registered before the routes, so that @fastify/swagger sees every one.
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { apiSchemas } from '../api-schemas.js'

type Json = Record<string, unknown>

/**
 * The generator leaves some references as they are in the schema files
 * (relative ones inside components, absolute ones inside query parameters):
 * point them at the components, named by title, and drop $id/$schema, which
 * mean nothing inside an OpenAPI document.
 */
export function localizeRefs (doc: Json): Json {
  const titleById = new Map(apiSchemas.map(x => [x.$id, x.title ?? '']))
  const idByTitle = new Map(apiSchemas.map(x => [x.title ?? '', x.$id]))
  const walk = (node: unknown, base: string | undefined): void => {
    if (Array.isArray(node)) { for (const x of node) walk(x, base); return }
    if (node === null || typeof node !== 'object') return
    const o = node as Json
    if (typeof o.$ref === 'string' && !o.$ref.startsWith('#')) {
      let abs: URL
      try { abs = new URL(o.$ref, base) } catch { return }
      const frag = abs.hash.slice(1)
      abs.hash = ''
      const title = titleById.get(abs.href)
      if (title) o.$ref = `#/components/schemas/${title}${frag}`
    }
    for (const v of Object.values(o)) walk(v, base)
  }
  const components = ((doc.components as Json | undefined)?.schemas ?? {}) as Record<string, Json>
  for (const [name, c] of Object.entries(components)) {
    const base = typeof c.$id === 'string' ? c.$id : idByTitle.get(name)
    delete c.$id
    delete c.$schema
    walk(c, base)
  }
  walk(doc.paths, undefined)
  return doc
}

export default fp(async function openapi (fastify) {
  for (const s of apiSchemas) fastify.addSchema(s)
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'fleetgate API',
        version: '1',
        description: 'History, latest positions, HTTP ingestion and the quarantine of a fleetgate gateway. Times are RFC 3339 UTC with microseconds; `from` is inclusive, `to` exclusive. Errors are application/problem+json (RFC 9457).'
      },
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: 'An API key made with `fleetgate apikey --role read|ingest|admin`.' }
        }
      }
    },
    // components are named after the schema's title instead of def-0, def-1, ...
    refResolver: {
      buildLocalReference (json, _baseUri, _fragment, i) {
        return typeof json.title === 'string' ? json.title : `def-${i}`
      }
    }
  })
  await fastify.register(swaggerUi, { routePrefix: '/docs' })
  let doc: Json | undefined
  fastify.get('/openapi.json', { schema: { summary: 'This document (OpenAPI 3.1)', tags: ['ops'] } }, async () => {
    doc ??= localizeRefs(structuredClone(fastify.swagger()) as unknown as Json)
    return doc
  })
}, { name: 'openapi', dependencies: ['errors'] })
