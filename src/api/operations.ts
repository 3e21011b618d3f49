// What the OpenAPI document says of each operation beyond its input schemas: a summary and
// operationId, every status it answers with its schema, headers and examples, and the request
// headers a handler reads itself (Idempotency-Key). @fastify/swagger applies it to the routes
// through its `transform` hook, for the document only: Fastify validates and serializes exactly
// as without it, so no answer is filtered to fit (test/surfaces/openapi.test.ts checks answers
// against the document instead). The refusals each route can answer follow from what it is
// (bearer or machine credential, role, inputs, method); the ones particular to an operation are
// listed with it.
import type { SwaggerTransform } from '@fastify/swagger';
import type { FastifySchema } from 'fastify';
import { TOKEN_ROLES } from '../db/states.js';
import { LeaseEnded } from '../scheduler/agent/agent-service.js';
import { MachineBusy, NotFound, TenantHidden, UnknownTenant } from '../scheduler/service/errors.js';
import { IdempotencyConflict, TENANT_LIMIT_RETRY_AFTER_S, TenantLimit, Unserviceable } from '../scheduler/submission.js';
import { problem, titleOf, type FieldError } from './problems.js';
import { EXAMPLE_IDS, type ComponentName } from './responses.js';

interface Refusal {
  status: number;
  /** When it is answered, for the response's description and the example's summary. */
  when: string;
  detail: string;
  errors?: FieldError[];
}

const BUSY_RETRY_AFTER_S = 2;

/** Every problem+json answer by its slug (docs/api.md §3), with an example detail from the code that writes it. */
const REFUSALS = {
  'invalid-request': {
    status: 400,
    when: 'a body, query, path parameter or header fails its schema; errors[] names each field',
    detail: 'body.priority: Too big: expected number to be <=100',
    errors: [{ field: 'body.priority', message: 'Too big: expected number to be <=100' }],
  },
  'invalid-json': { status: 400, when: 'the body is empty or not JSON while sent as application/json', detail: 'the body is not valid JSON', errors: [{ field: 'body', message: 'Unexpected end of JSON input' }] },
  unauthorized: { status: 401, when: 'no credential, a malformed header, or an unknown or revoked one', detail: 'send Authorization: Bearer <token>; create one with `sandfleet tokens create`' },
  'token-expired': { status: 401, when: 'the bearer token is past its expires_at', detail: 'the bearer token expired at 2026-01-15T09:30:00.000Z; create a new one with `sandfleet tokens create`' },
  forbidden: { status: 403, when: "the token's role is too low", detail: 'this needs the operator role; the token has submitter' },
  'tenant-hidden': { status: 403, when: "a submitter asked for a tenant not its own", detail: new TenantHidden('team-red').message },
  'not-found': { status: 404, when: 'no such task, machine or token (or a task of another tenant, for a submitter)', detail: new NotFound('task', EXAMPLE_IDS.task).message },
  'idempotency-conflict': {
    status: 409,
    when: 'the Idempotency-Key was used for a different request',
    detail: new IdempotencyConflict('k-1', EXAMPLE_IDS.task).message,
    errors: [{ field: 'header.idempotency-key', message: 'already used with a different body' }],
  },
  'machine-busy': { status: 409, when: 'the machine cannot be drained in its state (see docs/api.md, drain)', detail: new MachineBusy(EXAMPLE_IDS.machine, 'leased').message },
  'lease-ended': { status: 409, when: 'the lease named has ended on this machine; nothing was changed', detail: new LeaseEnded(EXAMPLE_IDS.task).message },
  'body-too-large': { status: 413, when: "the body exceeds the route's limit", detail: 'the request body is larger than the 1 MiB limit' },
  'result-too-large': { status: 413, when: 'the result is over 64 KiB of JSON', detail: 'the result must be at most 65536 bytes of JSON' },
  'unsupported-media-type': { status: 415, when: 'the body is not sent as application/json', detail: 'send the body as application/json' },
  unserviceable: { status: 422, when: 'no active pool can serve the submission', detail: new Unserviceable('no active pool named "gpu-sandbox"').message },
  'unknown-tenant': {
    status: 422,
    when: 'the tenant named is not declared',
    detail: new UnknownTenant('team-x', ['default', 'research']).message,
    errors: [{ field: 'body.tenant', message: 'no such tenant; tenants: default, research' }],
  },
  'tenant-limit': { status: 429, when: `the token's tenant has max_queued tasks queued; nothing was written (Retry-After: ${TENANT_LIMIT_RETRY_AFTER_S})`, detail: new TenantLimit('research', 10000).message },
  'rate-limited': { status: 429, when: 'the token made more than api.token_requests_per_minute requests to this daemon within a minute', detail: 'this token made more than 3000 requests in a minute; retry in 12 seconds' },
  'database-busy': { status: 503, when: 'no database connection came free in time, or PostgreSQL refused or dropped it; retry', detail: `the database cannot take more work right now; retry in ${BUSY_RETRY_AFTER_S} s` },
  internal: { status: 500, when: 'a fault of the server, logged with the request id', detail: 'the server failed to handle this request; it is logged with the request id' },
} as const satisfies Record<string, Refusal>;

type Slug = keyof typeof REFUSALS;

/**
 * Refusals made before any route runs (or by Fastify itself), answered to a request for any
 * operation: listed under the operation's own response for their status where it has one, else
 * under 4XX.
 */
const EDGE_REFUSALS: Record<string, Refusal> = {
  'malformed-request': { status: 400, when: 'not well-formed HTTP/1.1', detail: 'the request is not well-formed HTTP/1.1' },
  'bad-request': { status: 400, when: 'another client error Fastify raises (with its own 4xx status)', detail: 'Request body size did not match Content-Length' },
  'bad-url': { status: 400, when: 'a URL whose percent-encoding does not decode', detail: 'the URL is not well-formed: check its percent-encoding' },
  'request-timeout': { status: 408, when: 'the request did not arrive in full in time', detail: 'the request did not arrive in full in time' },
  'expectation-failed': { status: 417, when: 'an Expect header other than 100-continue', detail: 'only "Expect: 100-continue" is supported, got "teapot"' },
  'headers-too-large': { status: 431, when: 'the request line and headers exceed 16 KiB', detail: 'the request line and headers are larger than the server accepts (16 KiB in all)' },
};

type Body = ComponentName | { mediaType: string; schema: Record<string, unknown> } | null;

interface Answer {
  description: string;
  /** A component of src/api/responses.ts as JSON, another media type, or null for no body. */
  body: Body;
  headers?: Record<string, Header>;
}

/** A response header as @fastify/swagger takes it: its schema, with the description beside the keywords. */
interface Header {
  description: string;
  type: 'string' | 'integer';
  [keyword: string]: unknown;
}

interface Operation {
  operationId: string;
  summary: string;
  answers: Record<number, Answer>;
  /** Refusals particular to this operation, beside those that follow from its route. */
  refusals?: Slug[];
  /** No credential: health, readiness, metrics, this document. */
  public?: true;
  /** An example of the request body, checked against its schema by the lint. */
  requestExample?: unknown;
  /** Request headers the handler reads itself (Fastify does not validate them: the handler does). */
  headers?: Record<string, Record<string, unknown>>;
}

const location: Header = { description: 'the task: /v1/tasks/{id}', type: 'string', examples: [`/v1/tasks/${EXAMPLE_IDS.task}`] };

/** The operations, by Fastify method and URL. */
export const OPERATIONS: Record<string, Operation> = {
  'POST /v1/tasks': {
    operationId: 'submitTask',
    summary: 'Submit a task',
    answers: {
      201: { description: 'The task was created (it may already be assigned a machine).', body: 'Task', headers: { Location: location } },
      200: { description: 'A replay: the Idempotency-Key and request match a task submitted before, which is returned.', body: 'Task', headers: { Location: location } },
    },
    refusals: ['idempotency-conflict', 'unserviceable', 'tenant-limit'],
    requestExample: { pool: 'linux-sandbox', payload: { sample: 'a.exe' }, priority: 70, timeout_s: 900 },
    headers: {
      'Idempotency-Key': {
        type: 'string',
        minLength: 1,
        maxLength: 200,
        pattern: '^[\\x21-\\x7e]+$',
        description: 'Makes the submission safe to retry: the same key and request return the first task (200); the same key with another request is 409. Per tenant.',
        examples: ['build-7f3a-sample-12'],
      },
    },
  },
  'GET /v1/tasks': {
    operationId: 'listTasks',
    summary: 'List tasks, newest first, a page at a time',
    answers: { 200: { description: 'A page of tasks and the cursor of the next one.', body: 'TaskPage' } },
    refusals: ['tenant-hidden'],
  },
  'GET /v1/tasks/:id': {
    operationId: 'getTask',
    summary: 'Show a task, with why it waits while queued',
    answers: { 200: { description: 'The task, with its waiting_reason.', body: 'TaskStatus' } },
    refusals: ['not-found'],
  },
  'GET /v1/tasks/:id/events': {
    operationId: 'listTaskEvents',
    summary: "A task's history, newest first, a page at a time",
    answers: { 200: { description: 'A page of its events: leases, attempts and the machine of each.', body: 'EventPage' } },
    refusals: ['not-found'],
  },
  'POST /v1/tasks/:id/cancel': {
    operationId: 'cancelTask',
    summary: 'Cancel a task',
    answers: { 200: { description: 'The task as it now is: canceled, or unchanged if it had already ended or its runner had reported.', body: 'Task' } },
    refusals: ['not-found'],
  },
  'GET /v1/machines': { operationId: 'listMachines', summary: 'List machines, oldest first, a page at a time', answers: { 200: { description: 'A page of matching machines.', body: 'MachinePage' } } },
  'GET /v1/machines/:id': {
    operationId: 'getMachine',
    summary: 'Show a machine, live or deleted, with its latest events',
    answers: { 200: { description: 'The machine (state deleted once its row is gone, read from its events), its tasks and its latest 50 events.', body: 'MachineDetail' } },
    refusals: ['not-found'],
  },
  'GET /v1/machines/:id/events': {
    operationId: 'listMachineEvents',
    summary: "A machine's history, newest first, a page at a time (deleted machines too)",
    answers: { 200: { description: 'A page of its events.', body: 'EventPage' } },
    refusals: ['not-found'],
  },
  'POST /v1/machines/:id/drain': {
    operationId: 'drainMachine',
    summary: 'Drain a machine, now or after its task',
    answers: { 200: { description: 'The machine: draining, or unchanged when it will be retired after its task.', body: 'Machine' } },
    refusals: ['not-found', 'machine-busy'],
  },
  'GET /v1/pools': {
    operationId: 'listPools',
    summary: 'List pools with machine counts and demand, a page at a time',
    answers: { 200: { description: 'A page of pools by name, and how many daemons are alive.', body: 'PoolPage' } },
  },
  'GET /v1/daemons': {
    operationId: 'listDaemons',
    summary: 'List daemons with their heartbeats and the pools they lead',
    answers: { 200: { description: 'A page of daemons, alive or not.', body: 'DaemonPage' } },
  },
  'GET /v1/tokens': {
    operationId: 'listTokens',
    summary: 'List API tokens (never their secrets), a page at a time',
    answers: { 200: { description: 'A page of tokens, revoked ones included, oldest first.', body: 'TokenPage' } },
  },
  'POST /v1/tokens': {
    operationId: 'createToken',
    summary: 'Create an API token',
    answers: { 201: { description: 'The token, with its secret: the only time it is shown.', body: 'NewToken' } },
    refusals: ['unknown-tenant'],
    requestExample: { name: 'ci-research', role: 'submitter', tenant: 'research', expires_in_s: 2_592_000 },
  },
  'POST /v1/tokens/:id/revoke': {
    operationId: 'revokeToken',
    summary: 'Revoke an API token',
    answers: { 200: { description: 'The token; revoking again keeps the first revoked_at.', body: 'Token' } },
    refusals: ['not-found'],
  },
  'GET /v1/agent/lease': {
    operationId: 'takeLease',
    summary: "Wait for the machine's lease and start it",
    answers: {
      200: { description: 'The lease, now running (or running already, for an agent that restarted).', body: 'Lease' },
      204: { description: 'No lease came within wait_s.', body: null },
    },
  },
  'POST /v1/agent/leases/:id/heartbeat': {
    operationId: 'heartbeatLease',
    summary: 'Report that the lease is still being worked on',
    answers: { 204: { description: 'Noted.', body: null } },
    refusals: ['lease-ended'],
  },
  'POST /v1/agent/leases/:id/finish': {
    operationId: 'finishLease',
    summary: "Report the lease's verdict",
    answers: { 200: { description: 'The verdict was recorded; the machine is then stopped and released.', body: 'VerdictRecorded' } },
    refusals: ['lease-ended', 'result-too-large'],
    requestExample: { outcome: 'completed', result: { verdict: 'clean' } },
  },
  'GET /healthz': { operationId: 'health', summary: 'Liveness: the process serves', public: true, answers: { 200: { description: 'Serving.', body: 'Health' } } },
  'GET /readyz': {
    operationId: 'readiness',
    summary: 'Readiness: database and queue reachable, not shutting down',
    public: true,
    answers: { 200: { description: 'Ready.', body: 'Readiness' }, 503: { description: 'Not ready: the checks say why.', body: 'Readiness' } },
  },
  'GET /metrics': {
    operationId: 'metrics',
    summary: 'Prometheus metrics',
    public: true,
    answers: { 200: { description: 'The Prometheus text format.', body: { mediaType: 'text/plain', schema: { type: 'string', examples: ['sandfleet_tasks_queued{pool="linux-sandbox"} 3\n'] } } } },
    refusals: ['database-busy'],
  },
  'GET /openapi.json': { operationId: 'openApiDocument', summary: 'This document', public: true, answers: { 200: { description: 'The OpenAPI document.', body: 'OpenApiDocument' } } },
};

type RouteOptions = Parameters<SwaggerTransform>[0]['route'];

/** The refusals a route can answer by what it is, before those particular to its operation. */
function refusalsOf(route: RouteOptions, schema: FastifySchema, operation: Operation): Slug[] {
  const slugs: Slug[] = [];
  const role = route.config?.role;
  const machine = ((schema as { security?: Record<string, unknown>[] }).security ?? []).some((s) => 'machine' in s);
  if (schema.querystring || schema.params || schema.body || operation.headers) slugs.push('invalid-request');
  if (route.method === 'POST') slugs.push('invalid-json', 'body-too-large', 'unsupported-media-type');
  if (role || machine) slugs.push('unauthorized', 'database-busy');
  if (role) slugs.push('token-expired', 'rate-limited');
  if (role && TOKEN_ROLES.indexOf(role) > 0) slugs.push('forbidden');
  return [...new Set([...slugs, ...(operation.refusals ?? []), 'internal' as const])];
}

const HEADERS_BY_STATUS: Record<number, Record<string, Header>> = {
  401: { 'WWW-Authenticate': { description: 'the scheme to authenticate with', type: 'string', enum: ['Bearer'] } },
  429: { 'Retry-After': { description: 'seconds to wait before trying again', type: 'integer', minimum: 1 } },
  503: { 'Retry-After': { description: 'seconds to wait before trying again', type: 'integer', minimum: 1 } },
};

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

function problemResponse(refusals: [string, Refusal][], description: string, status?: number): Record<string, unknown> {
  const examples = Object.fromEntries(refusals.map(([slug, r]) => [slug, { summary: r.when, value: problem(r.status, slug, r.detail, r.errors) }]));
  return {
    description,
    ...(status && HEADERS_BY_STATUS[status] ? { headers: HEADERS_BY_STATUS[status] } : {}),
    content: { 'application/problem+json': { schema: ref('Problem'), examples } },
  };
}

function answerResponse(answer: Answer): Record<string, unknown> {
  const headers = answer.headers ? { headers: answer.headers } : {};
  if (answer.body === null) return { description: answer.description, ...headers, type: 'null' };
  const media = typeof answer.body === 'string' ? { 'application/json': { schema: ref(answer.body) } } : { [answer.body.mediaType]: { schema: answer.body.schema } };
  return { description: answer.description, ...headers, content: media };
}

/** @fastify/swagger's `transform`: the route's schema with its operation's documentation added. */
export const documentOperation: SwaggerTransform = ({ schema, url, route }) => {
  const method = Array.isArray(route.method) ? String(route.method[0]) : String(route.method);
  const operation = OPERATIONS[`${method} ${url}`];
  // An operation missing here keeps Fastify's "Default Response"; the OpenAPI lint then names it.
  if (!operation) return { schema, url };
  const response: Record<string, unknown> = {};
  for (const [status, answer] of Object.entries(operation.answers)) response[status] = answerResponse(answer);
  const byStatus = new Map<number, [string, Refusal][]>();
  for (const slug of refusalsOf(route, schema, operation)) {
    const refusal: Refusal = REFUSALS[slug];
    byStatus.set(refusal.status, [...(byStatus.get(refusal.status) ?? []), [slug, refusal]]);
  }
  const edge: [string, Refusal][] = [];
  for (const [slug, refusal] of Object.entries(EDGE_REFUSALS)) {
    const own = byStatus.get(refusal.status);
    if (own) own.push([slug, refusal]);
    else edge.push([slug, refusal]);
  }
  for (const [status, refusals] of byStatus) {
    response[status] = problemResponse(refusals, `${titleOf(status)}: ${refusals.map(([slug, r]) => `${slug} (${r.when})`).join('; ')}.`, status);
  }
  response['4XX'] = problemResponse(edge, `Refused before any route ran: ${edge.map(([slug, r]) => `${slug} (${r.status}: ${r.when})`).join('; ')}.`);
  const headers = operation.headers ? { headers: { type: 'object', properties: operation.headers } } : {};
  // A copy: the route's own body schema is what Fastify validates with (src/api/route-schema.ts).
  const body = operation.requestExample !== undefined && schema.body ? { body: { ...schema.body, examples: [operation.requestExample] } } : {};
  return {
    schema: { ...schema, operationId: operation.operationId, summary: operation.summary, ...(operation.public ? { security: [] } : {}), ...headers, ...body, response },
    url,
  };
};
