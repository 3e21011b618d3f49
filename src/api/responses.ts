// What the REST API answers, as zod schemas: converted to JSON Schema they are the components of
// the OpenAPI document (src/api/operations.ts names them per status). They document and do not
// filter: Fastify serializes every answer with JSON.stringify as before, and the contract test
// (test/surfaces/openapi.test.ts) validates real answers against the served document, so a view
// that gains, loses or retypes a field fails it rather than being trimmed to fit.
import { z } from 'zod';
import { MACHINE_STATES, PLATFORMS, PROVIDERS, RECYCLE_MODES, TASK_STATES, TOKEN_ROLES } from '../db/states.js';
import { WAITING_REASONS } from '../machinery/index.js';
import type { DaemonView, EventView, MachineDetailView, MachineView, PoolView, TaskStatusView, TaskView } from '../scheduler/service/views.js';
import type { TokenView } from '../scheduler/service/tokens.js';

const timestamp = z.iso.datetime();
const count = z.number().int().min(0);

const EXAMPLE_TASK_ID = '0b9f4a52-6c1e-4d7b-9a43-2f1c8e5d7a10';
const EXAMPLE_MACHINE_ID = '5d2c7e81-3f4a-4b6d-8e9f-1a2b3c4d5e6f';

export const fieldError = z.object({ field: z.string().describe('the request part and path: body.priority, query.limit, params.id, header.idempotency-key'), message: z.string() }).strict();

/** RFC 9457 problem details, as src/api/problems.ts builds them. */
export const problem = z
  .object({
    type: z.url().describe('https://sandfleet.dev/problems/<slug>; the slug names the refusal (docs/api.md §3)'),
    title: z.string().describe("the status's reason phrase"),
    status: z.number().int().min(400).max(599),
    detail: z.string().describe('what was wrong, and what to do about it'),
    errors: z.array(fieldError).optional().describe('on validation failures: each offending field on its own'),
  })
  .strict();

export const task = z
  .object({
    id: z.uuid(),
    tenant: z.string().describe("its submitting token's tenant"),
    state: z.enum(TASK_STATES),
    pool: z.string(),
    platform: z.enum(PLATFORMS).nullable(),
    tags: z.array(z.string()),
    priority: count,
    payload: z.record(z.string(), z.unknown()).describe('as submitted'),
    attempts: count,
    max_attempts: count,
    timeout_s: count,
    machine_id: z.uuid().nullable().describe("the current or last attempt's machine"),
    result: z.unknown().describe("the runner's result: any JSON value, null until there is one"),
    error: z.string().nullable(),
    created_at: timestamp,
    assigned_at: timestamp.nullable(),
    started_at: timestamp.nullable(),
    finished_at: timestamp.nullable(),
  })
  .strict()
  .meta({
    examples: [
      {
        id: EXAMPLE_TASK_ID,
        tenant: 'default',
        state: 'queued',
        pool: 'linux-sandbox',
        platform: null,
        tags: [],
        priority: 50,
        payload: { sample: 'a.exe' },
        attempts: 0,
        max_attempts: 3,
        timeout_s: 3600,
        machine_id: null,
        result: null,
        error: null,
        created_at: '2026-01-15T09:30:00.000Z',
        assigned_at: null,
        started_at: null,
        finished_at: null,
      },
    ],
  });

const nextCursor = z.string().nullable().describe('pass as `cursor` for the next page; null on the last (docs/api.md §1)');

/** A page of a list (docs/api.md §1). */
const pageOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), next_cursor: nextCursor }).strict();

/** A task as reads show it: with why it waits while queued. */
export const taskStatus = task
  .extend({ waiting_reason: z.enum(WAITING_REASONS).nullable().describe('why a queued task still waits (docs/api.md §4); null unless queued') })
  .strict();

export const taskPage = pageOf(taskStatus);

export const machine = z
  .object({
    id: z.uuid(),
    name: z.string(),
    pool: z.string(),
    provider: z.enum(PROVIDERS),
    provider_id: z.string().nullable(),
    state: z.enum(MACHINE_STATES),
    ip: z.string().nullable(),
    uses: count,
    task_id: z.uuid().nullable(),
    created_at: timestamp,
    state_changed_at: timestamp,
    last_error: z.string().nullable(),
  })
  .strict()
  .meta({
    examples: [
      {
        id: EXAMPLE_MACHINE_ID,
        name: 'sf-linux-sandbox-5d2c7e81',
        pool: 'linux-sandbox',
        provider: 'aws',
        provider_id: 'i-0a1b2c3d4e5f67890',
        state: 'leased',
        ip: '10.0.12.34',
        uses: 3,
        task_id: EXAMPLE_TASK_ID,
        created_at: '2026-01-15T09:00:00.000Z',
        state_changed_at: '2026-01-15T09:30:01.000Z',
        last_error: null,
      },
    ],
  });

export const event = z
  .object({
    id: z.string().describe("the event's id; one history is ordered by it"),
    at: timestamp,
    entity: z.enum(['machine', 'task']),
    entity_id: z.uuid(),
    kind: z.string().describe('the transition it records, or create, finalize, retireRequest'),
    from: z.string().nullable().describe('null for a creation'),
    to: z.string(),
    machine_id: z.uuid().nullable().describe('the lease it belongs to: its machine'),
    task_id: z.uuid().nullable().describe('the lease it belongs to: its task'),
    actor: z.string().describe('api:<token name>#<token id>, cli:<user>, or the daemon part that wrote it'),
    reason: z.string().nullable(),
  })
  .strict();

export const eventPage = pageOf(event);

export const machinePage = pageOf(machine);

export const machineDetail = machine
  .extend({
    state: z.enum([...MACHINE_STATES, 'deleted']).describe('`deleted` once its row is gone: the rest is then read from its events'),
    deleted_at: timestamp.nullable(),
    tasks: z.array(z.uuid()).describe('the tasks it was leased to, oldest first (the latest 50)'),
    events: z.array(event).describe('its latest 50 events, oldest first'),
  })
  .strict();

export const daemon = z
  .object({
    id: z.uuid(),
    cluster: z.string(),
    host: z.string(),
    pid: count,
    started_at: timestamp,
    last_seen_at: timestamp,
    stopped_at: timestamp.nullable(),
    alive: z.boolean().describe('not stopped, and heard from within the heartbeat bound'),
    leads: z.array(z.string()).describe('the pools it leads now'),
  })
  .strict();

export const daemonPage = pageOf(daemon);

export const pool = z
  .object({
    name: z.string(),
    provider: z.enum(PROVIDERS),
    platform: z.enum(PLATFORMS),
    arch: z.string(),
    tags: z.array(z.string()),
    active: z.boolean(),
    min_ready: count,
    max_size: count,
    max_uses: count.nullable(),
    idle_timeout_s: count,
    recycle: z.enum(RECYCLE_MODES),
    autoscale_policy: z.string().describe('demand, forecast, on-demand, keep-alive or leaky-bucket (or "invalid settings")'),
    price_per_hour: z.number().nullable(),
    cost_per_hour: z.number().nullable().describe('every machine the pool holds, at price_per_hour'),
    machines: z.partialRecord(z.enum(MACHINE_STATES), count).describe('machines by state; states with none omitted'),
    queued_tasks: count,
    desired_size: count,
  })
  .strict()
  .meta({
    examples: [
      {
        name: 'linux-sandbox',
        provider: 'aws',
        platform: 'linux',
        arch: 'x86_64',
        tags: ['sandbox'],
        active: true,
        min_ready: 2,
        max_size: 20,
        max_uses: null,
        idle_timeout_s: 600,
        recycle: 'delete',
        autoscale_policy: 'forecast',
        price_per_hour: 0.096,
        cost_per_hour: 0.48,
        machines: { ready: 2, leased: 3 },
        queued_tasks: 4,
        desired_size: 9,
      },
    ],
  });

export const poolPage = pageOf(pool)
  .extend({ live_daemons: count.describe('daemons alive now; 0 means nothing will run the pools (docs/api.md §4)') })
  .strict();

export const token = z
  .object({
    id: z.uuid(),
    name: z.string(),
    role: z.enum(TOKEN_ROLES),
    tenant: z.string(),
    created_at: timestamp,
    last_used_at: timestamp.nullable(),
    revoked_at: timestamp.nullable(),
    expires_at: timestamp.nullable().describe('null: never'),
  })
  .strict();

export const tokenPage = pageOf(token);

export const newToken = token.extend({ token: z.string().regex(/^sf_[A-Za-z0-9_-]+$/).describe('the secret: shown this once, only its hash is kept') }).strict();

export const lease = z
  .object({ task_id: z.uuid(), attempt: count, pool: z.string(), payload: z.record(z.string(), z.unknown()), timeout_s: count, started_at: timestamp })
  .strict()
  .meta({ examples: [{ task_id: EXAMPLE_TASK_ID, attempt: 1, pool: 'agents', payload: { sample: 'a.exe' }, timeout_s: 3600, started_at: '2026-01-15T09:30:02.000Z' }] });

export const verdictRecorded = z.object({ task_id: z.uuid().nullable(), recorded: z.enum(['completed', 'failed']) }).strict();

export const health = z.object({ status: z.literal('ok') }).strict();

export const readiness = z
  .object({
    status: z.enum(['ready', 'not ready']),
    checks: z.record(z.string(), z.string()).describe('shutdown, database, queue: "ok", or what is wrong'),
  })
  .strict();

export const openApiDocument = z.object({ openapi: z.string(), info: z.object({ title: z.string(), version: z.string() }).loose(), paths: z.record(z.string(), z.unknown()) }).loose();

/** The OpenAPI components, by the names the document gives them. */
export const RESPONSE_SCHEMAS = {
  Task: task,
  TaskStatus: taskStatus,
  TaskPage: taskPage,
  Machine: machine,
  MachinePage: machinePage,
  MachineDetail: machineDetail,
  Event: event,
  EventPage: eventPage,
  Daemon: daemon,
  DaemonPage: daemonPage,
  Pool: pool,
  PoolPage: poolPage,
  Token: token,
  TokenPage: tokenPage,
  NewToken: newToken,
  Lease: lease,
  VerdictRecorded: verdictRecorded,
  Health: health,
  Readiness: readiness,
  OpenApiDocument: openApiDocument,
  FieldError: fieldError,
  Problem: problem,
} as const;

export type ComponentName = keyof typeof RESPONSE_SCHEMAS;

/** The components as JSON Schema (2020-12, as OpenAPI 3.1 has it); shared schemas are referenced, not repeated. */
export function responseComponents(): Record<ComponentName, Record<string, unknown>> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(RESPONSE_SCHEMAS)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, { io: 'output', uri: (id) => `#/components/schemas/${id}`, unrepresentable: 'any' }) as { schemas: Record<string, Record<string, unknown>> };
  const out: Record<string, Record<string, unknown>> = {};
  for (const [id, { $schema: _schema, $id: _id, ...schema }] of Object.entries(schemas)) out[id] = schema;
  return out;
}

export const EXAMPLE_IDS = { task: EXAMPLE_TASK_ID, machine: EXAMPLE_MACHINE_ID } as const;

// The views of src/scheduler/service have exactly the documented fields, of compatible types:
// typecheck fails here when one gains, loses or retypes a field without its schema.
type Documents<View, Schema> = [keyof View] extends [keyof Schema] ? ([keyof Schema] extends [keyof View] ? (Schema extends View ? true : false) : false) : false;
const _task: Documents<TaskView, z.output<typeof task>> = true;
const _machine: Documents<MachineView, z.output<typeof machine>> = true;
const _taskStatus: Documents<TaskStatusView, z.output<typeof taskStatus>> = true;
const _machineDetail: Documents<MachineDetailView, z.output<typeof machineDetail>> = true;
const _event: Documents<EventView, z.output<typeof event>> = true;
const _daemon: Documents<DaemonView, z.output<typeof daemon>> = true;
const _pool: Documents<PoolView, z.output<typeof pool>> = true;
const _token: Documents<TokenView, z.output<typeof token>> = true;
