// The shared schemas (schemas/api/*.schema.json) and the OpenAPI document
// generated from them and from the routes: /openapi.json and /docs.
// Registered before the routes, so that @fastify/swagger sees every one.
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { apiSchemas } from '../api-schemas.js'

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
  fastify.get('/openapi.json', { schema: { hide: true } }, async () => fastify.swagger())
}, { name: 'openapi', dependencies: ['errors'] })
