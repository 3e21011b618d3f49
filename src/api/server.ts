// The REST API of docs/api.md on Fastify: bearer tokens with nested roles, zod-validated inputs
// (unknown fields rejected), problem+json errors naming the field, OpenAPI at /openapi.json and
// interactive docs at /docs. Every operation is the service layer's, shared with the CLI.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Db } from '../db/database.js';
import { errorMessage, isDatabaseBusy } from '../db/errors.js';
import { IdempotencyConflict, TENANT_LIMIT_RETRY_AFTER_S, TenantLimit, Unserviceable } from '../scheduler/submission.js';
import { InvalidCursor, MachineBusy, NotFound, TenantHidden, UnknownTenant } from '../scheduler/service/errors.js';
import { authenticate, roleAllows, TokenUse } from '../scheduler/service/tokens.js';
import type { Scope, ServiceContext } from '../scheduler/service/service.js';
import { DEFAULT_TENANT } from '../db/states.js';
import { problem, sendProblem, ValidationFailed } from './problems.js';
import { registerAgentRoutes, type AgentApi } from './agent-routes.js';
import { registerDashboard } from './dashboard.js';
import { API_DEFAULTS } from './defaults.js';
import { answerClientError, answerExpectations, answerFrameworkError } from './edge-errors.js';
import { OPENAPI_HEAD } from './openapi-head.js';
import { documentOperation } from './operations.js';
import { limitTokenRequests } from './rate-limit.js';
import { zodValidatorCompiler } from './route-schema.js';
import { registerRoutes } from './routes.js';

/** A request without a token sees no tenant's tasks (no route reaches the service without one). */
const NO_SCOPE: Scope = { tenant: { name: DEFAULT_TENANT, maxQueued: 0 }, only: '' };

/** What a 503 for a busy database tells the client to wait. */
const BUSY_RETRY_AFTER_S = 2;

export interface ApiOptions {
  db: Db;
  queues: ServiceContext['queues'];
  /** The agent endpoints (agent pools), with the machine credentials they take. */
  agent?: AgentApi;
  /** Pool rows from the scheduler's cache (submissions choose a pool on every request). */
  pools?: ServiceContext['pools'];
  claimLater?: ServiceContext['claimLater'];
  /** `scheduler.max_machines_total`, so waiting reasons can say `global-cap`. */
  maxMachinesTotal?: number;
  /** Database and queue reachable, and not shutting down. */
  ready: () => Promise<{ ok: boolean; checks: Record<string, string> }>;
  metrics: () => Promise<{ contentType: string; body: string }>;
  logger?: FastifyBaseLogger;
  bodyLimit?: number;
  /** Requests a token may make per minute before it is answered 429. */
  tokenRequestsPerMinute?: number;
}

export async function buildApi(options: ApiOptions): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    bodyLimit: options.bodyLimit ?? API_DEFAULTS.bodyLimitBytes,
    // Request ids end up in every log line of the request.
    requestIdHeader: 'x-request-id',
    // Our routes log what matters themselves; per-request lines would double the volume.
    logController: new LogController({ disableRequestLogging: true }),
    clientErrorHandler: answerClientError,
    frameworkErrors: answerFrameworkError,
  });
  answerExpectations(app.server);
  app.decorateRequest('token', null);
  app.decorateRequest('scope', null);
  // JSON only: a text body is refused as 415 rather than parsed into a string.
  app.removeContentTypeParser('text/plain');
  app.setValidatorCompiler(zodValidatorCompiler);

  await app.register(swagger, { openapi: OPENAPI_HEAD, transform: documentOperation });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  // The least role of each operation goes into the OpenAPI document (`x-sandfleet-role`), so a
  // client, and the contract fuzzer, can tell which token an operation takes without our source.
  app.addHook('onRoute', (route) => {
    const role = route.config?.role;
    // @fastify/swagger copies a route schema's `x-` keys into the operation; FastifySchema has no type for them.
    if (role && route.schema) route.schema = { ...route.schema, ['x-sandfleet-role' as string]: role, description: route.schema.description ?? `Needs a token with the ${role} role; roles nest (admin > operator > submitter).` };
  });

  app.addHook('onRequest', async (request, reply) => {
    const role = request.routeOptions.config.role;
    if (!role) return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const found = match?.[1] ? await authenticate(options.db, match[1]) : null;
    if (!found || found.expired) {
      reply.header('www-authenticate', 'Bearer');
      const why = !header
        ? 'send Authorization: Bearer <token>; create one with `sandfleet tokens create`'
        : found
          ? `the bearer token expired at ${found.token.expiresAt?.toISOString()}; create a new one with \`sandfleet tokens create\``
          : 'the bearer token is not valid (revoked, mistyped, or from another installation)';
      return sendProblem(reply, problem(401, found ? 'token-expired' : 'unauthorized', why));
    }
    const { token } = found;
    if (!roleAllows(token.role, role)) return sendProblem(reply, problem(403, 'forbidden', `this needs the ${role} role; the token has ${token.role}`));
    request.token = token;
    request.scope = found.scope;
  });

  await limitTokenRequests(app, options.tokenRequestsPerMinute ?? API_DEFAULTS.tokenRequestsPerMinute);

  // Only a request that succeeded counts as a use of its token.
  // Noted before the response leaves, so a client that reads the token list next sees it.
  const tokenUse = new TokenUse(options.db);
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.token && reply.statusCode < 400) await tokenUse.note(request.token.id).catch(() => {});
    return payload;
  });

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof TenantLimit) {
      reply.header('retry-after', String(TENANT_LIMIT_RETRY_AFTER_S));
      return sendProblem(reply, problem(429, 'tenant-limit', error.message));
    }
    if (!isDatabaseBusy(error)) return sendProblem(reply, toProblem(error, request));
    // Saturation or a database restart, not a bug: the client should come back, not report it.
    request.log.warn({ reason: errorMessage(error).slice(0, 200) }, 'database busy: answered 503');
    reply.header('retry-after', String(BUSY_RETRY_AFTER_S));
    return sendProblem(reply, problem(503, 'database-busy', `the database cannot take more work right now; retry in ${BUSY_RETRY_AFTER_S} s`));
  });
  app.setNotFoundHandler((request, reply) => sendProblem(reply, problem(404, 'not-found', `no route ${request.method} ${request.url.split('?')[0]}`)));

  // A browser pointed at the daemon lands on the interactive docs. (The router also sends the
  // asterisk-form target `GET *` here; that is no page of ours.)
  app.get('/', { schema: { hide: true } }, (request, reply) => (request.url.startsWith('/') ? reply.redirect('/docs', 302) : reply.callNotFound()));
  app.get('/healthz', { schema: { tags: ['service'] } }, () => Promise.resolve({ status: 'ok' }));
  app.get('/readyz', { schema: { tags: ['service'] } }, async (_request, reply) => {
    const readiness = await options.ready();
    return reply.code(readiness.ok ? 200 : 503).send({ status: readiness.ok ? 'ready' : 'not ready', checks: readiness.checks });
  });
  app.get('/metrics', { schema: { tags: ['service'] } }, async (_request, reply) => {
    const { contentType, body } = await options.metrics();
    return reply.type(contentType).send(body);
  });
  app.get('/openapi.json', { schema: { tags: ['service'] } }, () => Promise.resolve(app.swagger()));
  registerDashboard(app);

  if (options.agent) registerAgentRoutes(app, options.agent);
  registerRoutes(app, (request) => ({
    db: options.db,
    // Routes run after authentication, so every routed request has its token's scope.
    scope: request.scope ?? NO_SCOPE,
    queues: options.queues,
    ...(options.pools ? { pools: options.pools } : {}),
    ...(options.claimLater ? { claimLater: options.claimLater } : {}),
    ...(options.maxMachinesTotal ? { maxMachinesTotal: options.maxMachinesTotal } : {}),
    // The audit trail: every event an API action writes names the token (its name and id).
    actor: request.token ? `api:${request.token.name}#${request.token.id}` : 'api:anonymous',
  }));
  return app;
}

function sizeOf(bytes: number): string {
  return bytes >= 1_048_576 && bytes % 1_048_576 === 0 ? `${bytes / 1_048_576} MiB` : `${Math.round(bytes / 1024)} KiB`;
}

function toProblem(error: unknown, request: FastifyRequest): ReturnType<typeof problem> {
  if (error instanceof ValidationFailed) return problem(400, 'invalid-request', error.message, error.errors);
  if (error instanceof NotFound) return problem(404, 'not-found', error.message);
  if (error instanceof MachineBusy) return problem(409, 'machine-busy', error.message);
  if (error instanceof IdempotencyConflict) return problem(409, 'idempotency-conflict', error.message, [{ field: 'header.idempotency-key', message: 'already used with a different body' }]);
  if (error instanceof Unserviceable) return problem(422, 'unserviceable', error.message);
  if (error instanceof UnknownTenant) return problem(422, 'unknown-tenant', error.message, [{ field: 'body.tenant', message: `no such tenant; tenants: ${error.known.join(', ')}` }]);
  if (error instanceof TenantHidden) return problem(403, 'tenant-hidden', error.message, [{ field: 'query.tenant', message: 'not this token\'s tenant' }]);
  if (error instanceof InvalidCursor) return problem(400, 'invalid-request', error.message, [{ field: 'query.cursor', message: error.message }]);
  const fastifyError = error as { statusCode?: number; code?: string; message?: string };
  switch (fastifyError.code) {
    case 'RATE_LIMITED':
      return problem(429, 'rate-limited', fastifyError.message ?? 'too many requests');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return problem(413, 'body-too-large', `the request body is larger than the ${sizeOf(request.routeOptions.bodyLimit ?? 0)} limit`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return problem(415, 'unsupported-media-type', 'send the body as application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return problem(400, 'invalid-json', 'the body is not valid JSON', [{ field: 'body', message: fastifyError.message ?? 'invalid JSON' }]);
  }
  if (fastifyError.statusCode && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return problem(fastifyError.statusCode, 'bad-request', fastifyError.message ?? 'bad request');
  }
  request.log.error({ err: error }, 'request failed');
  return problem(500, 'internal', 'the server failed to handle this request; it is logged with the request id');
}

export type Reply = FastifyReply;
