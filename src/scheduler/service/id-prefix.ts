// An id the CLI was given by its first characters, resolved to the one id it starts: among what
// the caller may see (a submitter's tenant's tasks only), or refused as ambiguous or unknown.
import type { Db } from '../../db/database.js';
import { apiTokenIdsWithPrefix, ID_PREFIX_MATCHES_READ, idPrefixDigits, idRange, machineIdsWithPrefix, taskIdsWithPrefix } from '../../machinery/index.js';
import { AmbiguousIdPrefix, NotFound, type Entity } from './errors.js';
import type { ServiceContext } from './service.js';

export function resolveTaskId(ctx: ServiceContext, prefix: string): Promise<string> {
  return resolve('task', prefix, (digits, limit) => taskIdsWithPrefix(ctx.db, digits, { tenant: ctx.scope.only, limit }));
}

export function resolveMachineId(ctx: ServiceContext, prefix: string): Promise<string> {
  return resolve('machine', prefix, (digits, limit) => machineIdsWithPrefix(ctx.db, digits, limit));
}

export function resolveTokenId(db: Db, prefix: string): Promise<string> {
  return resolve('token', prefix, (digits, limit) => apiTokenIdsWithPrefix(db, digits, limit));
}

async function resolve(entity: Entity, prefix: string, idsStartingWith: (digits: string, limit: number) => Promise<string[]>): Promise<string> {
  const parsed = idPrefixDigits(prefix);
  if ('problem' in parsed) throw new NotFound(entity, prefix, true);
  // A whole id needs no lookup: the operation itself says whether it exists.
  if (parsed.digits.length === 32) return idRange(parsed.digits).low;
  const ids = await idsStartingWith(parsed.digits, ID_PREFIX_MATCHES_READ);
  const [only] = ids;
  if (ids.length === 0 || only === undefined) throw new NotFound(entity, prefix, true);
  if (ids.length > 1) throw new AmbiguousIdPrefix(entity, prefix, ids.slice(0, ID_PREFIX_MATCHES_READ - 1), ids.length === ID_PREFIX_MATCHES_READ);
  return only;
}
