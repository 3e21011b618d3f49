// The OpenAPI document's head: version, info, tags, security schemes and the response components.
// The operations come from the routes (their zod input schemas) and src/api/operations.ts.
import type { SwaggerOptions } from '@fastify/swagger';
import { responseComponents } from './responses.js';

type OpenApiHead = NonNullable<Extract<SwaggerOptions, { openapi?: unknown }>['openapi']>;

export const OPENAPI_HEAD = {
  // 3.1: its schemas are JSON Schema 2020-12, which zod writes as it is.
  openapi: '3.1.0',
  info: {
    title: 'sandfleet',
    version: '1',
    description:
      'Pools of disposable analysis machines: submit tasks, watch machines and pools, manage tokens; agents on machines drive their leases. Errors are application/problem+json naming the field (docs/api.md).',
    license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
  },
  // Relative: the daemon that serves this document.
  servers: [{ url: '/', description: 'this daemon' }],
  tags: [
    { name: 'tasks', description: 'Submit, list, show and cancel tasks, and read their histories (submitter role; a submitter sees its own tenant only).' },
    { name: 'machines', description: 'The machines of every pool, live or deleted, and their histories; drain one (operator role).' },
    { name: 'pools', description: 'Pools with machine counts, queued tasks and desired size (operator role).' },
    { name: 'daemons', description: 'The daemons, their heartbeats and the pools they lead (operator role).' },
    { name: 'tokens', description: 'API tokens (admin role).' },
    { name: 'agents', description: "An agent on an agent pool's machine drives its lease, with the machine's credential." },
    { name: 'service', description: 'Health, readiness, metrics and this document; no credential.' },
  ],
  components: {
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', description: 'an API token (sf_…), made with `sandfleet tokens create` or POST /v1/tokens' },
      machine: { type: 'http', scheme: 'bearer', description: "an agent pool machine's credential (sfm_…), handed to it in its user data" },
    },
    schemas: responseComponents(),
  },
  security: [{ bearer: [] }],
} satisfies OpenApiHead;
