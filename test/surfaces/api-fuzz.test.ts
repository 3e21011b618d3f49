// The API fuzzed from its own contract: requests generated from the served OpenAPI document
// (every operation's path parameters, query and body schema, and the role `x-sandfleet-role` it
// needs), valid ones and ones with a defect (bad or missing credentials, a role too low, a value
// off its schema, an unknown field, NUL and surrogates, a wrong content type, broken JSON, a body
// too large, an unknown route, malformed HTTP over a raw socket), sent over real HTTP to a real
// server and database. Every answer: never 5xx; every 4xx problem+json with a title and detail;
// a request with one defect gets the status that defect calls for, and a 400 names the field;
// every 2xx parses; every answer to one of the document's operations is what the document says. Requests refused by construction run in batches between two database digests,
// which must be equal. FUZZ_REQUESTS sets the count (1,500 by default), FUZZ_SEED replays a run.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { connect } from 'node:net';
import type { Queue } from 'bullmq';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import { createLogger } from '../../src/daemon/logger.js';
import { allocate } from '../../src/machinery/index.js';
import { HeartbeatBatcher } from '../../src/scheduler/agent/heartbeats.js';
import { IdleMarks } from '../../src/scheduler/agent/idle-marks.js';
import { LeaseNotices } from '../../src/scheduler/agent/lease-notices.js';
import { MachineCredentials } from '../../src/scheduler/agent/credentials.js';
import { createQueue, MACHINE_QUEUE, RUN_QUEUE, type MachineJob, type RunJob } from '../../src/scheduler/queue.js';
import { createToken, revokeToken } from '../../src/scheduler/service/tokens.js';
import { TOKEN_ROLES, type TokenRole } from '../../src/db/states.js';
import { findUnstorable } from '../../src/db/storable.js';
import { sql } from 'drizzle-orm';
import { conforming, mutants, percentEncode, RawJson, storableJson, toJson, type JsonSchema, type Known, type Mutant } from '../support/contract-arbitraries.js';
import { useTestDatabase } from '../support/database.js';
import { Conformance } from '../support/openapi-conformance.js';
import type { OpenApiDocument } from '../support/openapi-document.js';
import { digestStatement } from '../support/db-digest.js';
import { addPool, queueTasks, readyMachines } from '../support/fixtures.js';

const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 1500);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
/** Requests in flight at once, over keep-alive connections. */
const CONCURRENCY = 6;
/** Requests generated (and checked) per round: its refusals between two digests, then the rest. */
const ROUND = 60;
/** Larger than the server's body limit (1 MiB, and 256 KiB for an agent's verdict). */
const OVERSIZE_BYTES = 1_100_000;

const t = useTestDatabase('api_fuzz', 12, { queue: true });
let app: FastifyInstance;
let port = 0;
let queues: { runs: Queue<RunJob>; machines: Queue<MachineJob> };
let notices: LeaseNotices;
let idle: IdleMarks;
let conformance: Conformance | undefined;
const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
/** The server's error log lines: a failure report shows what the server saw. */
const serverErrors: string[] = [];

/** Everything the generators draw on that exists only once the server and fixtures are up. */
interface World {
  operations: Operation[];
  tokens: Record<TokenRole, string>;
  revoked: string;
  expired: string;
  machineCredentials: string[];
  /** Signed properly, for a machine that does not exist: refused once the handler looks. */
  strangerCredential: string;
  known: Known;
}
const world: World = { operations: [], tokens: { submitter: '', operator: '', admin: '' }, revoked: '', expired: '', machineCredentials: [], strangerCredential: '', known: {} };

interface Parameter {
  name: string;
  in: 'path' | 'query';
  required: boolean;
  schema: JsonSchema;
}
interface Operation {
  method: string;
  path: string;
  parameters: Parameter[];
  body: JsonSchema | null;
  /** The least role (bearer tokens), or 'machine' for the agent endpoints. */
  auth: TokenRole | 'machine';
}

/** The operations of the served OpenAPI document. */
function operationsOf(document: { paths: Record<string, Record<string, Record<string, unknown>>>; security?: Record<string, unknown>[] }): Operation[] {
  const out: Operation[] = [];
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const security = (op.security ?? document.security ?? []) as Record<string, unknown>[];
      // Public operations (health, readiness, metrics, the document) take no credential and no input.
      if (security.length === 0) continue;
      const machine = security.some((s) => 'machine' in s);
      const role = op['x-sandfleet-role'] as TokenRole | undefined;
      if (!machine && !role) throw new Error(`${method} ${path} documents neither a role nor the machine credential`);
      const content = (op.requestBody as { content?: Record<string, { schema: JsonSchema }> } | undefined)?.content;
      out.push({
        method: method.toUpperCase(),
        path,
        parameters: ((op.parameters ?? []) as Parameter[]).map((p) => ({ name: p.name, in: p.in, required: p.required, schema: p.schema })),
        body: content?.['application/json']?.schema ?? null,
        auth: machine ? 'machine' : role!,
      });
    }
  }
  return out;
}

// ——— requests ———

/** What a request with a single defect must be answered: these statuses, and for a 400 from validation, an error naming `field`. */
interface Expectation {
  defect: string;
  statuses: readonly number[];
  field?: string;
}

interface Spec {
  kind: 'valid' | 'defect' | 'chaos' | 'raw';
  method: string;
  url: string;
  headers: Record<string, string>;
  /** The body as sent; `oversize` pads it past the body limit when sent (not kept in memory for every spec). */
  body: string | null;
  oversize?: boolean;
  /** Refused by construction: its batch is checked to have written nothing. */
  refused: boolean;
  expect?: Expectation;
  /** Malformed HTTP, sent as it is over a fresh socket. */
  raw?: string;
  /** The document's operation it was sent to (none for another route or method): its answer is checked against it. */
  operation?: { method: string; path: string };
}

type Part = { defect: null; value: unknown } | { defect: Expectation; value: unknown };
const good = (value: unknown): Part => ({ defect: null, value });
const bad = (value: unknown, defect: Expectation): Part => ({ defect, value });

const ROLE_RANK = (role: TokenRole) => TOKEN_ROLES.indexOf(role);

function authParts(op: Operation): { valid: fc.Arbitrary<Part>; defects: fc.Arbitrary<Part>[] } {
  if (op.auth === 'machine') {
    const refused = (defect: string) => ({ defect, statuses: [401] });
    return {
      valid: fc.constantFrom(...world.machineCredentials).map((c) => good(`Bearer ${c}`)),
      defects: [
        fc.constant(bad(null, refused('no machine credential'))),
        fc.constantFrom('Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'Bearer sfm_nope', 'sfm_x').map((v) => bad(v, refused('garbage machine credential'))),
        fc.constantFrom(...world.machineCredentials).map((c) => bad(`Bearer ${c.slice(0, -4)}AAAA`, refused('machine credential with a wrong signature'))),
        fc.constant(bad(`Bearer ${world.tokens.admin}`, refused('an API token where a machine credential belongs'))),
        fc.constant(bad(`Bearer ${world.strangerCredential}`, refused('the credential of a machine that does not exist'))),
      ],
    };
  }
  const need = op.auth;
  const allowed = TOKEN_ROLES.filter((r) => ROLE_RANK(r) >= ROLE_RANK(need));
  const below = TOKEN_ROLES.filter((r) => ROLE_RANK(r) < ROLE_RANK(need));
  const unauthorized = (defect: string) => ({ defect, statuses: [401] });
  const defects: fc.Arbitrary<Part>[] = [
    fc.constant(bad(null, unauthorized('no token'))),
    fc
      .oneof(
        fc.constantFrom('Bearer', 'Bearer ', 'bearer', 'Basic dXNlcjpwYXNz', 'Token abc', 'sf_abc', `Bearer sf_${'A'.repeat(43)}`, `Bearer sf_${'x'.repeat(300)}`),
        fc.string({ unit: 'grapheme-ascii', maxLength: 60 }).map((s) => `Bearer sf_${s.replace(/\s/g, '')}`),
        fc.string({ unit: 'grapheme-ascii', maxLength: 40 }),
      )
      .map((v) => bad(v, unauthorized('garbage token'))),
    fc.constant(bad(`Bearer ${world.revoked}`, unauthorized('revoked token'))),
    fc.constant(bad(`Bearer ${world.expired}`, unauthorized('expired token'))),
    fc.constantFrom(...world.machineCredentials).map((c) => bad(`Bearer ${c}`, unauthorized('a machine credential where a token belongs'))),
  ];
  if (below.length > 0) defects.push(fc.constantFrom(...below).map((r) => bad(`Bearer ${world.tokens[r]}`, { defect: `a ${r} token`, statuses: [403] })));
  return {
    // Bearer matching is case-insensitive, with any run of whitespace after it.
    valid: fc.tuple(fc.constantFrom(...allowed), fc.constantFrom('Bearer ', 'bearer ', 'BEARER\t', 'Bearer   ')).map(([r, scheme]) => good(`${scheme}${world.tokens[r]}`)),
    defects,
  };
}

/** A path parameter's value, already encoded for the URL. */
function paramParts(p: Parameter): { valid: fc.Arbitrary<Part>; defects: fc.Arbitrary<Part>[] } {
  const valid = conforming(p.schema, 'text', world.known, p.name).map((v) => good(percentEncode(String(v))));
  const field = `params.${p.name}`;
  const defects = [
    mutants(p.schema, 'text', [], world.known, p.name).map((m) => bad(percentEncode(String(m.value)), { defect: `path ${p.name}: ${m.what}`, statuses: [400], field })),
    // Lone surrogates in a path decode to nothing: the router refuses the URL (bad-url, naming no field).
    fc.constantFrom('%ED%A0%80', '%ED%B0%80', '%E0%A4%A', '%ZZ', '%', '%C0%AF').map((v) => bad(v, { defect: `path ${p.name}: undecodable`, statuses: [400] })),
  ];
  return { valid, defects };
}

/**
 * A valid query value. An agent's long poll (`wait_s`) is always 0: a wait holds a connection for
 * up to a minute and only slows the run; the waiting itself is agent.test.ts's to test.
 */
const queryValue = (p: Parameter): fc.Arbitrary<string> => (p.name === 'wait_s' ? fc.constant('0') : conforming(p.schema, 'text', world.known, p.name).map(String));

/** The query string's parameters, each [name, value] already decoded (the sender encodes them). */
function queryParts(params: Parameter[]): { valid: fc.Arbitrary<Part>; defects: fc.Arbitrary<Part>[] } {
  const pairs = (chosen: Parameter[]) => fc.tuple(...chosen.map((p) => queryValue(p).map((v): [string, string] => [p.name, v])));
  // Required ones always; `wait_s` too, since leaving it out waits its default.
  const always = params.filter((p) => p.required || p.name === 'wait_s');
  const validPairs = fc.subarray(params).chain((chosen) => {
    const all = [...chosen, ...always.filter((p) => !chosen.includes(p))];
    return all.length ? pairs(all) : fc.constant([] as [string, string][]);
  });
  const defects: fc.Arbitrary<Part>[] = [];
  const taken = new Set(params.map((p) => p.name));
  // A parameter the operation does not have (query strings are strict); a NUL in its name is named first.
  defects.push(
    fc
      .tuple(validPairs, fc.constantFrom('sort', 'x', 'Limit', 'state[]', 'a\u0000', 'cursor ', '__proto__'), fc.constantFrom('1', '', 'x'))
      .filter(([, name]) => !taken.has(name))
      .map(([ok, name, value]) => bad([...ok, [name, value]], { defect: `unknown query parameter ${JSON.stringify(name)}`, statuses: [400], field: `query.${name}` })),
  );
  for (const p of params) {
    const others = params.filter((o) => o !== p);
    const field = `query.${p.name}`;
    defects.push(
      fc
        .tuple(others.some((o) => always.includes(o)) ? pairs(others.filter((o) => always.includes(o))) : fc.constant([] as [string, string][]), mutants(p.schema, 'text', [], world.known, p.name))
        // Lone surrogates in a query stay as their percent-encoding (the parser leaves what does not decode): no defect there.
        .filter(([, m]) => !/[\ud800-\udfff]/.test(String(m.value)))
        .map(([ok, m]) => bad([...ok, [p.name, String(m.value)]], { defect: `query ${p.name}: ${m.what}`, statuses: [400], field })),
      // Given twice, it is a list where a single value belongs.
      fc
        .tuple(queryValue(p), queryValue(p))
        .map(([a, b]) => bad([[p.name, a], [p.name, b]], { defect: `query ${p.name} twice`, statuses: [400], field })),
    );
  }
  return { valid: validPairs.map(good), defects };
}

const JSON_TYPES = ['application/json', 'application/json; charset=utf-8', 'Application/JSON'];

function bodyParts(op: Operation): { valid: fc.Arbitrary<Part>; defects: fc.Arbitrary<Part>[] } {
  // Operations without a body are sent none; a body sent anyway is still parsed, so the defects below hold for them too.
  const valid: fc.Arbitrary<Part> = op.body ? conforming(op.body, 'json', world.known).map((v) => good({ json: toJson(v) })) : fc.constant(good(null));
  const anyJson = op.body ? conforming(op.body, 'json', world.known).map((v) => toJson(v)) : fc.constant('{}');
  const defects: fc.Arbitrary<Part>[] = [
    fc
      .tuple(anyJson, fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/octet-stream', 'image/png'))
      .map(([json, type]) => bad({ json, type }, { defect: `body as ${type}`, statuses: [415] })),
    fc
      .oneof(anyJson.map((j) => j.slice(0, Math.max(1, j.length - 1))), fc.constantFrom('', '{', '{"a":}', 'nul', '{}x', "{'a':1}", '[1,]', '{"a":1,}', '\u00ff\u00fe'))
      .filter((text) => !isJson(text))
      .map((text) => bad({ json: text }, { defect: 'body not JSON', statuses: [400] })),
    anyJson.map((json) => bad({ json, oversize: true }, { defect: 'body over the limit', statuses: [413] })),
  ];
  if (op.body) defects.push(mutants(op.body, 'json', [], world.known).map((m: Mutant) => bad({ json: toJson(m.value) }, { defect: `body: ${m.what}`, statuses: [400], field: ['body', ...m.path].join('.') })));
  return { valid, defects };
}

/** How deep arrays and objects nest in JSON text (strings skipped). */
function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '[' || c === '{') deepest = Math.max(deepest, ++depth);
    else if (c === ']' || c === '}') depth--;
  }
  return deepest;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * The Idempotency-Key header. The document describes it as a header parameter of submissions;
 * its values and defects are made here: a key that is not 1-200 visible ASCII is refused.
 */
function idempotencyParts(op: Operation): { valid: fc.Arbitrary<Part>; defects: fc.Arbitrary<Part>[] } {
  const valid = fc.option(fc.oneof(fc.constantFrom('k-1', 'k-2', 'same'), fc.stringMatching(/^[\x21-\x7e]{1,200}$/)), { nil: null }).map(good);
  if (!(op.method === 'POST' && op.path === '/v1/tasks')) return { valid, defects: [] };
  const field = 'header.idempotency-key';
  return {
    valid,
    defects: [fc.constantFrom('a b', 'k'.repeat(201), 'caf\u00e9', '\t').map((v) => bad(v, { defect: `Idempotency-Key ${JSON.stringify(v.slice(0, 20))}`, statuses: [400], field }))],
  };
}

/** Another route, or another method, than any the document has. */
function routeDefects(op: Operation): fc.Arbitrary<Part>[] {
  const methods = new Set(world.operations.filter((o) => o.path === op.path).map((o) => o.method));
  const other = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].filter((m) => !methods.has(m));
  return [
    fc.constantFrom(...other).map((m) => bad({ method: m }, { defect: `${m} on ${op.path}`, statuses: [404] })),
    fc.constantFrom('/v1', '/v2/tasks', '/v1/task', '/v1/%00', '/v1/tasks/x/y/z', '/V1/TASKS', '/.env').map((p) => bad({ path: p }, { defect: `unknown route ${p}`, statuses: [404] })),
  ];
}

const extraHeaders: fc.Arbitrary<Record<string, string>> = fc.record(
  {
    accept: fc.constantFrom('*/*', 'application/json', 'text/html', 'application/problem+json', ''),
    'x-request-id': fc.string({ unit: 'grapheme-ascii', maxLength: 80 }),
    'user-agent': fc.constantFrom('fuzz/1', 'curl/8.0', ''),
    'accept-encoding': fc.constantFrom('identity', 'gzip', 'br'),
  },
  { requiredKeys: [] },
);

interface Parts {
  auth: Part;
  params: Record<string, Part>;
  query: Part;
  body: Part;
  idempotency: Part;
  route: Part | null;
}

function assemble(op: Operation, parts: Parts, extra: Record<string, string>, kind: Spec['kind']): Spec {
  const defects = [parts.auth, ...Object.values(parts.params), parts.query, parts.body, parts.idempotency, ...(parts.route ? [parts.route] : [])].flatMap((p) => (p.defect ? [p.defect] : []));
  const route = (parts.route?.value ?? {}) as { method?: string; path?: string };
  const method = route.method ?? op.method;
  let path = route.path ?? op.path.replace(/\{(\w+)\}/g, (_, name: string) => String(parts.params[name]?.value ?? ''));
  const pairs = parts.query.value as [string, string][];
  if (pairs.length) path += `?${pairs.map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`).join('&')}`;
  const headers: Record<string, string> = { ...extra };
  if (typeof parts.auth.value === 'string') headers.authorization = parts.auth.value;
  if (typeof parts.idempotency.value === 'string') headers['idempotency-key'] = parts.idempotency.value;
  const body = parts.body.value as { json: string; type?: string; oversize?: boolean } | null;
  if (body) headers['content-type'] = body.type ?? JSON_TYPES[body.json.length % JSON_TYPES.length]!;
  const refused = defects.length > 0;
  // A body past limits the document does not state (a payload's 64 KiB, 100 levels of nesting) is
  // refused for that too, so its one stated defect no longer decides the answer alone.
  const unstated = body !== null && (Buffer.byteLength(body.json) > 60_000 || nestingDepth(body.json) > 90);
  // Past 16 KiB of request line and headers, the HTTP parser refuses before anything else looks.
  const expectation = defects[0] && path.length > 16_384 ? { ...defects[0], statuses: [431], field: undefined } : defects[0];
  return {
    kind,
    method,
    url: path,
    headers,
    body: body?.json ?? null,
    ...(body?.oversize ? { oversize: true } : {}),
    refused,
    ...(kind === 'defect' && expectation && !unstated ? { expect: expectation } : {}),
    ...(parts.route ? {} : { operation: { method: op.method, path: op.path } }),
  };
}

/** Requests for one operation: valid, with one defect, or with several. */
function requestsFor(op: Operation): fc.Arbitrary<Spec> {
  const auth = authParts(op);
  const params = Object.fromEntries(op.parameters.filter((p) => p.in === 'path').map((p) => [p.name, paramParts(p)]));
  const query = queryParts(op.parameters.filter((p) => p.in === 'query'));
  const body = bodyParts(op);
  // A body goes only where the operation's method takes one.
  const bodyDefects = op.method === 'POST' ? body.defects : [];
  const idempotency = idempotencyParts(op);
  const routes = routeDefects(op);
  const validParts: fc.Arbitrary<Parts> = fc.record({
    auth: auth.valid,
    params: fc.record(Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v.valid]))),
    query: query.valid,
    body: body.valid,
    idempotency: idempotency.valid,
    route: fc.constant<Part | null>(null),
  });
  // Each component with a defect, the others as they are: exactly one defect.
  const slots: fc.Arbitrary<(p: Parts) => Parts>[] = [
    fc.oneof(...auth.defects).map((d) => (p: Parts) => ({ ...p, auth: d })),
    ...Object.entries(params).map(([name, part]) => fc.oneof(...part.defects).map((d) => (p: Parts) => ({ ...p, params: { ...p.params, [name]: d } }))),
    fc.oneof(...query.defects).map((d) => (p: Parts) => ({ ...p, query: d })),
    ...(bodyDefects.length ? [fc.oneof(...bodyDefects).map((d) => (p: Parts) => ({ ...p, body: d }))] : []),
    ...(idempotency.defects.length ? [fc.oneof(...idempotency.defects).map((d) => (p: Parts) => ({ ...p, idempotency: d }))] : []),
    fc.oneof(...routes).map((d) => (p: Parts) => ({ ...p, route: d })),
  ];
  return fc.oneof(
    { weight: 3, arbitrary: fc.tuple(validParts, extraHeaders).map(([p, extra]) => assemble(op, p, extra, 'valid')) },
    { weight: 6, arbitrary: fc.tuple(validParts, fc.oneof(...slots), extraHeaders).map(([p, change, extra]) => assemble(op, change(p), extra, 'defect')) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(validParts, fc.shuffledSubarray(slots, { minLength: 2, maxLength: 3 }).chain((chosen) => fc.tuple(...chosen)), extraHeaders)
        .map(([p, changes, extra]) => assemble(op, changes.reduce<Parts>((acc, change) => change(acc), p), extra, 'chaos')),
    },
  );
}

/** Malformed HTTP: each is refused by the parser, the router or authentication, whichever comes first. */
const rawRequests: fc.Arbitrary<Spec> = fc
  .oneof(
    fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 40 }).map((s) => `@${s.replace(/\r|\n/g, '')}\r\n\r\n`),
    fc.constantFrom('HTTP/9.9', 'HTTP/2.0', 'HTTP/1.', 'HTTPS/1.1', 'http/1.1').map((v) => `GET /v1/tasks ${v}\r\nHost: x\r\n\r\n`),
    fc.constantFrom('X Bad: 1', 'X-Bad : 1', ': nothing', 'X-\u0001: 1', 'X-A: a\u0000b', 'X-A: a\rb').map((h) => `GET /v1/tasks HTTP/1.1\r\nHost: x\r\n${h}\r\n\r\n`),
    fc.constant('POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'),
    fc.constant('POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}'),
    fc.constant('POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n'),
    fc.constant('POST /v1/tasks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n'),
    fc.constant('POST /v1/tasks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked, identity\r\n\r\n'),
    fc.integer({ min: 17_000, max: 40_000 }).map((n) => `GET /v1/tasks HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(n)}\r\n\r\n`),
    fc.constantFrom('/v1/ta sks', '/v1/tasks\u0001', '/v1/tasks#frag', '*', 'http://x/v1/tasks').map((u) => `GET ${u} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    fc.constantFrom('%E0%A4%A', '%ED%A0%80', '%', '%zz').map((p) => `GET /v1/tasks/${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    fc.constantFrom('teapot', '100-continue, x', 'nothing').map((e) => `POST /v1/tasks HTTP/1.1\r\nHost: x\r\nExpect: ${e}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`),
  )
  .map((raw) => ({ kind: 'raw', method: 'RAW', url: JSON.stringify(raw.slice(0, 80)), headers: {}, body: null, refused: true, raw }));

// ——— sending and checking ———

interface Answer {
  status: number;
  type: string;
  headers: http.IncomingHttpHeaders;
  text: string;
}

function send(spec: Spec): Promise<Answer> {
  if (spec.raw !== undefined) return sendRaw(spec.raw);
  let body = spec.body === null ? null : Buffer.from(spec.body, 'utf8');
  if (body && spec.oversize) body = Buffer.concat([body, Buffer.alloc(OVERSIZE_BYTES, 0x20)]);
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: '127.0.0.1', port, method: spec.method, path: spec.url, agent, headers: { ...spec.headers, ...(body ? { 'content-length': String(body.length) } : {}) } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, type: String(response.headers['content-type'] ?? ''), headers: response.headers, text: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body ?? undefined);
  });
}

/** Sends `text` as it is on a fresh connection and reads until the server closes it (or 10 s pass: a failure). */
async function sendRaw(text: string): Promise<Answer> {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(text);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([closed.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), 10_000)))]);
  clearTimeout(timer);
  if (timedOut) socket.destroy();
  // An interim 100 Continue (for an Expect Node reads as 100-continue) comes before the answer.
  const received = Buffer.concat(chunks).toString('utf8').replace(/^(HTTP\/1\.1 1\d\d [^\r]*\r\n(?:[^\r]+\r\n)*\r\n)+/, '');
  const split = received.indexOf('\r\n\r\n');
  const head = split < 0 ? received : received.slice(0, split);
  const headers: http.IncomingHttpHeaders = {};
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), type: String(headers['content-type'] ?? ''), headers, text: split < 0 ? '' : received.slice(split + 4) };
}

interface ProblemBody {
  type?: unknown;
  title?: unknown;
  status?: unknown;
  detail?: unknown;
  errors?: { field?: unknown; message?: unknown }[];
}

/** What is wrong with an answer, or nothing. */
function verdict(spec: Spec, answer: Answer): string[] {
  const wrong: string[] = [];
  const { status } = answer;
  if (status === 0) return ['no answer'];
  if (status >= 500) wrong.push(`answered ${status}`);
  if (spec.refused && (status < 400 || status >= 500)) wrong.push(`refused by construction, answered ${status}`);
  if (spec.expect && !spec.expect.statuses.includes(status)) wrong.push(`${spec.expect.defect}: expected ${spec.expect.statuses.join('/')}, answered ${status}`);
  if (status >= 400 && status < 500) {
    if (!answer.type.startsWith('application/problem+json')) wrong.push(`4xx with content-type ${JSON.stringify(answer.type)}`);
    let problem: ProblemBody | null = null;
    try {
      problem = JSON.parse(answer.text) as ProblemBody;
    } catch {
      wrong.push(`4xx body is not JSON: ${JSON.stringify(answer.text.slice(0, 80))}`);
    }
    if (problem) {
      for (const key of ['type', 'title', 'detail'] as const) if (typeof problem[key] !== 'string' || !(problem[key]).trim()) wrong.push(`problem without a ${key}`);
      if (problem.status !== status) wrong.push(`problem status ${String(problem.status)} on a ${status}`);
      const field = spec.expect?.field;
      // A refusal from validation names the field (the router's bad-url and the parser's refusals name none).
      if (field !== undefined && status === 400 && String(problem.type).endsWith('/invalid-request')) {
        const fields = (problem.errors ?? []).map((e) => e.field);
        if (!fields.includes(field)) wrong.push(`400 does not name ${JSON.stringify(field)}: ${JSON.stringify(fields)}`);
      }
    }
  }
  if (status >= 200 && status < 300 && status !== 204 && spec.method !== 'HEAD') {
    if (!answer.type.startsWith('application/json')) wrong.push(`2xx with content-type ${JSON.stringify(answer.type)}`);
    if (!isJson(answer.text)) wrong.push('2xx body is not JSON');
  }
  if (status === 429 && !(Number(answer.headers['retry-after']) > 0)) wrong.push('429 without Retry-After');
  // What the document says of the operation: the status, content type, body schema, headers and refusal type.
  if (spec.operation && conformance) {
    const headers = new Headers(Object.entries(answer.headers).flatMap(([k, v]): [string, string][] => (v === undefined ? [] : [[k, Array.isArray(v) ? v.join(', ') : v]])));
    wrong.push(...conformance.check({ ...spec.operation, status, headers, text: answer.text }).map((w) => `against the document: ${w}`));
  }
  return wrong;
}

/** Runs `work` over `items`, `limit` at a time. */
async function inParallel<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await work(items[i]!);
      }
    }),
  );
  return results;
}

function describeSpec(spec: Spec): string {
  const body = spec.body === null ? '' : ` body ${JSON.stringify(spec.body.slice(0, 160))}${spec.oversize ? ' +1.1 MB' : ''}`;
  const headers = Object.entries(spec.headers)
    .map(([k, v]) => `${k}: ${k === 'authorization' ? v.slice(0, 14) + '…' : v.slice(0, 40)}`)
    .join(', ');
  return `[${spec.kind}${spec.expect ? `: ${spec.expect.defect}` : ''}] ${spec.method} ${spec.url.slice(0, 200)} {${headers}}${body}`;
}

// ——— the run ———

beforeAll(async () => {
  const namespace = `fuzz${randomUUID().slice(0, 6)}`;
  queues = {
    runs: createQueue<RunJob>(RUN_QUEUE, { database: t, backend: { kind: 'postgres' }, namespace }),
    machines: createQueue<MachineJob>(MACHINE_QUEUE, { database: t, backend: { kind: 'postgres' }, namespace }),
  };
  notices = new LeaseNotices(t);
  idle = new IdleMarks(t.db, notices);
  const credentials = new MachineCredentials(t.db);
  // Heartbeats batched over 5 ms rather than the daemon's second: the answer waits for the batch.
  const agentContext = { db: t.db, notices, idle, heartbeats: new HeartbeatBatcher(t.db, 5, 5), queues, actor: 'agent' };
  app = await buildApi({
    db: t.db,
    queues,
    agent: { context: agentContext, credentials },
    logger: createLogger('error', {}, { write: (line: string) => void serverErrors.push(line) }),
    // The per-token limit would answer most of a fuzz run 429; it has a test of its own below.
    tokenRequestsPerMinute: 1_000_000_000,
    ready: () => Promise.resolve({ ok: true, checks: {} }),
    metrics: () => Promise.resolve({ contentType: 'text/plain', body: '' }),
  });
  port = Number(new URL(await app.listen({ host: '127.0.0.1', port: 0 })).port);

  for (const role of TOKEN_ROLES) world.tokens[role] = (await createToken(t.db, { name: `fuzz-${role}`, role })).token;
  const revoked = await createToken(t.db, { name: 'fuzz-revoked', role: 'admin' });
  await revokeToken(t.db, revoked.view.id);
  world.revoked = revoked.token;
  const expired = await createToken(t.db, { name: 'fuzz-expired', role: 'admin', expiresInS: 60 });
  await t.db.execute(sql`UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = ${expired.view.id}`);
  world.expired = expired.token;
  // Tokens the fuzzer may revoke (its own must keep working).
  const spare = await Promise.all([1, 2, 3].map(async (i) => (await createToken(t.db, { name: `spare-${i}`, role: 'submitter' })).view.id));

  // Two pools with ready machines, queued tasks, and leased machines whose agents can call in.
  const pools = [(await addPool(t.db, { platform: 'linux', tags: ['sandbox'] })).name, (await addPool(t.db, { platform: 'windows', tags: ['gpu'] })).name];
  const machines: string[] = [];
  const tasks: string[] = [];
  for (const pool of pools) {
    machines.push(...(await readyMachines(t.db, pool, 4)).map((m) => m.id));
    tasks.push(...(await queueTasks(t.db, pool, 4)).map((task) => task.id));
    for (let i = 0; i < 2; i++) {
      const lease = await allocate(t.db, { pool });
      if (lease) tasks.push(lease.task.id);
    }
  }
  world.machineCredentials = await Promise.all(machines.map((id) => credentials.issue(id)));
  world.strangerCredential = await credentials.issue(randomUUID());
  world.known = { pool: pools, id: [...machines, ...tasks, ...spare], tags: ['sandbox', 'gpu'] };

  const document = (await (await fetch(`http://127.0.0.1:${port}/openapi.json`)).json()) as Parameters<typeof operationsOf>[0];
  world.operations = operationsOf(document);
  conformance = new Conformance(document as OpenApiDocument);
});

afterAll(async () => {
  agent.destroy();
  await app?.close();
  idle?.close();
  await notices?.close();
  await Promise.all([queues?.runs.close(), queues?.machines.close()]);
});

describe('the API fuzzed from its OpenAPI document', () => {
  it('reads every operation from the document, each with its role or credential', () => {
    const labels = world.operations.map((o) => `${o.method} ${o.path} ${o.auth}`);
    expect(labels).toEqual(expect.arrayContaining(['POST /v1/tasks submitter', 'GET /v1/machines operator', 'POST /v1/tokens admin', 'GET /v1/agent/lease machine']));
    expect(world.operations.find((o) => o.method === 'POST' && o.path === '/v1/tasks')?.body?.required).toContain('payload');
  });

  it(`answers ${REQUESTS} generated requests: never 5xx, every 4xx problem+json naming the problem, refusals writing nothing`, { timeout: 3_600_000 }, async () => {
    console.log(`api fuzz: seed ${SEED}, ${REQUESTS} requests (replay: FUZZ_SEED=${SEED} FUZZ_REQUESTS=${REQUESTS} npx vitest run test/surfaces/api-fuzz.test.ts)`);
    const requests = fc.oneof({ weight: 97, arbitrary: fc.oneof(...world.operations.map(requestsFor)) }, { weight: 3, arbitrary: rawRequests });
    const specs = fc.sample(requests, { seed: SEED, numRuns: REQUESTS });
    const digest = await digestStatement(t.db);
    console.log(`api fuzz: the database digest covers ${Object.keys(await digest()).length} tables`);
    const histogram: Record<string, number> = {};
    const kinds: Record<string, number> = {};
    const failures: string[] = [];
    const started = performance.now();
    let digests = 0;
    let replays = 0;
    let replaysSkipped = 0;
    const check = async (spec: Spec, index: number, replayed = false): Promise<number> => {
      let answer: Answer;
      const t0 = performance.now();
      try {
        answer = await send(spec);
        if (performance.now() - t0 > 5000) console.log(`slow ${Math.round(performance.now() - t0)} ms #${index} ${describeSpec(spec)} → ${answer.status}`);
      } catch (error) {
        failures.push(`#${index} ${describeSpec(spec)} → transport error ${String(error)}`);
        return 0;
      }
      // The histogram counts each generated request once; replays are counted apart.
      if (!replayed) histogram[answer.status] = (histogram[answer.status] ?? 0) + 1;
      kinds[replayed ? 'replayed' : spec.kind] = (kinds[replayed ? 'replayed' : spec.kind] ?? 0) + 1;
      const wrong = verdict(spec, answer);
      if (wrong.length) failures.push(`#${index}${replayed ? ' (replayed)' : ''} ${describeSpec(spec)} → ${answer.status} ${answer.text.slice(0, 300)}: ${wrong.join('; ')}`);
      return answer.status;
    };
    /** Runs a batch between two digests; when `all` of it was refused, nothing may have changed. */
    const unchanged = async (what: string, batch: { spec: Spec; index: number }[], replayed = false): Promise<boolean> => {
      const before = await digest();
      const statuses = await inParallel(batch, CONCURRENCY, (r) => check(r.spec, r.index, replayed));
      const after = await digest();
      const allRefused = statuses.every((s) => s >= 400 && s < 500);
      const changed = Object.keys(after).filter((k) => after[k] !== before[k]);
      if (allRefused && changed.length) failures.push(`${what}: ${batch.length} refused requests changed ${changed.join(', ')}: ${batch.map((r) => `#${r.index}`).join(' ')}`);
      return allRefused;
    };
    for (let from = 0; from < specs.length; from += ROUND) {
      const round = specs.slice(from, from + ROUND).map((spec, i) => ({ spec, index: from + i }));
      await unchanged(`refusals of the round at #${from}`, round.filter((r) => r.spec.refused));
      digests++;
      const rest = round.filter((r) => !r.spec.refused);
      const statuses = await inParallel(rest, CONCURRENCY, (r) => check(r.spec, r.index));
      // Valid requests refused for what the schema cannot know (an unknown id or pool, a conflict)
      // are sent again as a batch of their own: refused again, they must write nothing either.
      // A replay the server now accepts (the state moved on) leaves that batch unjudged, and counted.
      const again = rest.filter((_, i) => statuses[i]! >= 400 && statuses[i]! < 500);
      if (again.length) {
        replays++;
        if (!(await unchanged(`replayed refusals of the round at #${from}`, again, true))) replaysSkipped++;
      }
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`api fuzz: ${REQUESTS} requests (and ${kinds.replayed ?? 0} replays) in ${seconds} s; ${digests} batches of refusals by construction and ${replays - replaysSkipped} of ${replays} batches of replayed refusals digested; kinds ${JSON.stringify(kinds)}; statuses ${JSON.stringify(histogram)}`);
    if (failures.length) console.log(`api fuzz: ${failures.length} failures (seed ${SEED}):\n${failures.slice(0, 40).join('\n')}`);
    if (serverErrors.length) console.log(`api fuzz: the server logged ${serverErrors.length} errors:\n${serverErrors.slice(0, 10).join('')}`);
    expect(failures.slice(0, 20)).toEqual([]);
    // The run exercised what it claims: refusals of every kind, and valid requests that wrote.
    expect(Object.keys(histogram).some((s) => s.startsWith('2'))).toBe(true);
    expect(histogram[400] ?? 0).toBeGreaterThan(0);
  });

  it('answers a token past its request budget 429 problem+json with Retry-After, or an earlier refusal, and writes nothing', async () => {
    const limited = await buildApi({ db: t.db, queues, tokenRequestsPerMinute: 2, ready: () => Promise.resolve({ ok: true, checks: {} }), metrics: () => Promise.resolve({ contentType: 'text/plain', body: '' }) });
    const limitedPort = Number(new URL(await limited.listen({ host: '127.0.0.1', port: 0 })).port);
    const { token } = await createToken(t.db, { name: 'fuzz-budget', role: 'admin' });
    const saved = port;
    try {
      port = limitedPort;
      const spend = { kind: 'valid', method: 'GET', url: '/v1/tasks', headers: { authorization: `Bearer ${token}` }, body: null, refused: false } satisfies Spec;
      for (let i = 0; i < 2; i++) expect((await send(spend)).status).toBe(200);
      // Valid requests of every operation, all as the spent admin token.
      const asSpent = fc
        .oneof(...world.operations.filter((o) => o.auth !== 'machine').map(requestsFor))
        .filter((s) => s.kind === 'valid')
        .map((s): Spec => ({ ...s, refused: true, headers: { ...s.headers, authorization: `Bearer ${token}` } }));
      const specs = fc.sample(asSpent, { seed: SEED, numRuns: 60 });
      const digest = await digestStatement(t.db);
      const before = await digest();
      const answers = await inParallel(specs, CONCURRENCY, send);
      expect(await digest()).toEqual(before);
      const problems = answers.flatMap((a, i) => verdict(specs[i]!, a).map((w) => `${describeSpec(specs[i]!)}: ${w}`));
      expect(problems).toEqual([]);
      // Valid requests otherwise: nothing refuses them before the budget does, bar what the schema cannot say (a 400).
      expect(answers.filter((a) => a.status !== 429 && a.status !== 400)).toEqual([]);
      expect(answers.filter((a) => a.status === 429).length).toBeGreaterThan(specs.length / 2);
      for (const answer of answers.filter((a) => a.status === 429)) {
        expect(answer.type).toContain('application/problem+json');
        expect(Number(answer.headers['retry-after'])).toBeGreaterThan(0);
        expect((JSON.parse(answer.text) as { detail: string }).detail).toMatch(/more than 2 requests in a minute/);
      }
    } finally {
      port = saved;
      await limited.close();
    }
  });
});

// The generator's own honesty, without a server: mutants really break their schema's rules.
describe('contract arbitraries', () => {
  it('mutants of a strict object with an enum never conform, and conforming free-form values are all storable', () => {
    const schema: JsonSchema = { type: 'object', properties: { role: { type: 'string', enum: ['a', 'b'] } }, required: ['role'], additionalProperties: false };
    for (const m of fc.sample(mutants(schema, 'json'), { seed: 1, numRuns: 200 })) {
      const value = m.value as Record<string, unknown> | null;
      const conformsToo = value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 1 && ['a', 'b'].includes(value.role as string);
      expect(conformsToo, JSON.stringify(m)).toBe(false);
    }
    // Conforming free-form values are all storable (RawJson edge values are nesting only).
    const samples = fc.sample(storableJson, { seed: 1, numRuns: 300 }).filter((v) => !(v instanceof RawJson));
    expect(samples.filter((v) => findUnstorable(v) !== null)).toEqual([]);
  });
});
