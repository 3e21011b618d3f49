// The API's OpenAPI document without a database: the server is built with stand-ins for what its
// routes would use, none of which building the document touches (each throws if it is), and
// asked for /openapi.json in-process. `npm run openapi:generate` takes the document from here;
// test/surfaces/openapi.test.ts checks that a live server on a real database serves the same.
import { buildApi, type ApiOptions } from '../../src/api/server.js';

/** A stand-in that refuses every use: building the document must not reach it. */
function unused<T extends object>(what: string): T {
  return new Proxy({} as T, {
    get: (_target, key) => {
      throw new Error(`building the OpenAPI document used ${what}.${String(key)}`);
    },
  });
}

export type OpenApiDocument = { openapi: string; paths: Record<string, Record<string, Record<string, unknown>>> } & Record<string, unknown>;

export async function documentWithoutDatabase(): Promise<OpenApiDocument> {
  const app = await buildApi({
    db: unused<ApiOptions['db']>('db'),
    queues: unused<ApiOptions['queues']>('queues'),
    // Agent routes are registered only with an agent API; the document must have them.
    agent: { context: unused('agent.context'), credentials: unused('agent.credentials') },
    ready: () => Promise.reject(new Error('not served')),
    metrics: () => Promise.reject(new Error('not served')),
  });
  try {
    const response = await app.inject({ method: 'GET', url: '/openapi.json' });
    if (response.statusCode !== 200) throw new Error(`/openapi.json answered ${response.statusCode}: ${response.body}`);
    return response.json<OpenApiDocument>();
  } finally {
    await app.close();
  }
}
