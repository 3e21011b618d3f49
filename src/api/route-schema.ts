// What the server and its routes share: route schemas that document themselves (JSON Schema for
// OpenAPI) and validate with zod, and the fields the server adds to Fastify's request and route
// config (the caller's token, the least role a route needs). server.ts installs them; routes.ts
// declares its routes with them.
import type { FastifySchema, FastifySchemaCompiler } from 'fastify';
import { z } from 'zod';
import type { ApiTokenRow } from '../db/schema.js';
import { findUnstorable } from '../db/storable.js';
import type { TokenRole } from '../db/states.js';
import type { Scope } from '../scheduler/service/service.js';
import { ValidationFailed } from './problems.js';

declare module 'fastify' {
  interface FastifyRequest {
    token: ApiTokenRow | null;
    /** What the token may see and submit as; set with the token. */
    scope: Scope | null;
  }
  interface FastifyContextConfig {
    /** Least role a route needs; routes without one are public (health, metrics, docs). */
    role?: TokenRole;
  }
}

const schemas = new WeakMap<object, z.ZodType>();

/** A route schema for the docs that validates with zod: the JSON Schema object keys the zod schema. */
export function documented(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _drop, ...json } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  schemas.set(json, schema);
  return json;
}

/**
 * Fastify's validator compiler for documented() schemas: zod validates, a failure names its
 * fields. What PostgreSQL cannot store (NUL, lone surrogates, nesting too deep) is refused first, wherever it is.
 */
export const zodValidatorCompiler: FastifySchemaCompiler<FastifySchema> = ({ schema, httpPart }) => {
  const zod = schemas.get(schema);
  if (!zod) throw new Error(`route schema for ${httpPart ?? 'input'} was not built with documented()`);
  const part = httpPart === 'querystring' ? 'query' : (httpPart ?? 'input');
  return (data: unknown) => {
    const unstorable = findUnstorable(data);
    if (unstorable) return { error: new ValidationFailed([{ field: [part, ...unstorable.path].join('.'), message: unstorable.message }]) };
    const parsed = zod.safeParse(data);
    return parsed.success ? { value: parsed.data } : { error: ValidationFailed.fromZod(part, parsed.error) };
  };
};
