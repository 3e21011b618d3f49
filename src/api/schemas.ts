// The REST inputs as zod schemas: they validate (unknown fields rejected, no type coercion in
// bodies) and, converted to JSON Schema, document the API in /openapi.json.
import { z } from 'zod';
import { MACHINE_STATES, PLATFORMS, TASK_STATES, TENANT_NAME_PATTERN, TOKEN_ROLES } from '../db/states.js';
import { PAGE_LIMIT } from '../scheduler/service/pages.js';
import { TOKEN_LIFETIME_S } from '../scheduler/service/tokens.js';

export const PAYLOAD_LIMIT = 64 * 1024;

export const submitBody = z
  .object({
    pool: z.string().min(1).max(63).optional(),
    platform: z.enum(PLATFORMS).optional(),
    tags: z.array(z.string().min(1).max(100)).max(32).optional(),
    payload: z.record(z.string(), z.unknown()).refine((p) => Buffer.byteLength(JSON.stringify(p)) <= PAYLOAD_LIMIT, `payload must be at most ${PAYLOAD_LIMIT} bytes of JSON`),
    priority: z.number().int().min(0).max(100).optional(),
    timeout_s: z.number().int().min(1).max(86_400).optional(),
    max_attempts: z.number().int().min(1).max(10).optional(),
  })
  .strict();

export const idParams = z.object({ id: z.uuid('must be a UUID') }).strict();

const tenantName = z.string().regex(TENANT_NAME_PATTERN, 'is not a tenant name (lowercase letters, digits and dashes)');

/** Every list's paging (docs/api.md §1): how many items, and the `next_cursor` of the page before. */
const paging = {
  limit: z.coerce.number().int('must be an integer').min(1).max(PAGE_LIMIT.max).default(PAGE_LIMIT.default),
  cursor: z.string().min(1).max(200).regex(/^[A-Za-z0-9_-]+$/, 'is not a cursor this API returned').optional(),
};

export const taskListQuery = z
  .object({
    state: z.enum(TASK_STATES).optional(),
    pool: z.string().min(1).max(63).optional(),
    /** Operators and admins: only this tenant's tasks. A submitter sees its own tenant's only, and may name no other. */
    tenant: tenantName.optional(),
    ...paging,
  })
  .strict();

export const machineListQuery = z.object({ pool: z.string().min(1).max(63).optional(), state: z.enum(MACHINE_STATES).optional(), ...paging }).strict();

/** A list with nothing to filter by: pools, tokens, daemons, a history's events. */
export const pageQuery = z.object(paging).strict();

export const drainQuery = z.object({ after_task: z.enum(['true', 'false']).default('false') }).strict();

export const emptyQuery = z.object({}).strict();

export const tokenBody = z
  .object({
    name: z.string().min(1).max(100),
    role: z.enum(TOKEN_ROLES),
    /** Whose work the token submits and (a submitter) sees; default: the default tenant. */
    tenant: tenantName.optional(),
    /** The token expires this many seconds after it is made; absent, it never does. */
    expires_in_s: z.number().int().min(TOKEN_LIFETIME_S.min).max(TOKEN_LIFETIME_S.max).optional(),
  })
  .strict();

/** The header must be visible ASCII, as an opaque key should be. */
export const idempotencyKey = z.string().min(1).max(200).regex(/^[\x21-\x7e]+$/, 'must be 1-200 visible ASCII characters');

/** An agent's long-poll: how long to wait for the machine's lease before answering 204. */
export const agentLeaseQuery = z.object({ wait_s: z.coerce.number().int('must be an integer').min(0).max(60).default(30) }).strict();

/** An agent's verdict. The result is stored as given, up to 64 KiB of JSON (else 413). */
export const agentFinishBody = z.discriminatedUnion('outcome', [
  z.object({ outcome: z.literal('completed'), result: z.unknown().optional() }).strict(),
  z.object({ outcome: z.literal('failed'), error: z.string().min(1).max(4096) }).strict(),
]);

export const RESULT_LIMIT = 64 * 1024;
