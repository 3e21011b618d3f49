// The /v1 routes of docs/api.md. Each validates its inputs (documented() schemas), needs a role, and
// calls one service operation.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { cancel, drainOne, listTaskPage, machinesOf, poolSummaries, showMachine, showTask, submitTask, type ServiceContext } from '../scheduler/service/service.js';
import { createToken, listTokens, revokeToken } from '../scheduler/service/tokens.js';
import { ValidationFailed } from './problems.js';
import { daemonsPage } from '../scheduler/service/daemons.js';
import { machineHistory, taskHistory } from '../scheduler/service/history.js';
import { drainQuery, emptyQuery, idempotencyKey, idParams, machineListQuery, pageQuery, submitBody, taskListQuery, tokenBody } from './schemas.js';
import { documented } from './route-schema.js';

type Context = (request: FastifyRequest) => ServiceContext;

export function registerRoutes(app: FastifyInstance, context: Context): void {
  const query = documented(emptyQuery);
  const params = documented(idParams);
  const paged = documented(pageQuery);

  app.post('/v1/tasks', { config: { role: 'submitter' }, schema: { tags: ['tasks'], body: documented(submitBody), querystring: query } }, async (request, reply) => {
    const body = request.body as z.infer<typeof submitBody>;
    const key = headerKey(request);
    const { task, created } = await submitTask(
      context(request),
      { pool: body.pool, platform: body.platform, tags: body.tags, payload: body.payload, priority: body.priority, timeoutS: body.timeout_s, maxAttempts: body.max_attempts },
      key,
    );
    return reply.code(created ? 201 : 200).header('location', `/v1/tasks/${task.id}`).send(task);
  });

  app.get('/v1/tasks', { config: { role: 'submitter' }, schema: { tags: ['tasks'], querystring: documented(taskListQuery) } }, async (request) => {
    const q = request.query as z.infer<typeof taskListQuery>;
    return listTaskPage(context(request), { state: q.state, pool: q.pool, tenant: q.tenant, limit: q.limit, cursor: q.cursor });
  });

  app.get('/v1/tasks/:id', { config: { role: 'submitter' }, schema: { tags: ['tasks'], params, querystring: query } }, async (request) =>
    showTask(context(request), (request.params as z.infer<typeof idParams>).id),
  );

  app.post('/v1/tasks/:id/cancel', { config: { role: 'submitter' }, schema: { tags: ['tasks'], params, querystring: query } }, async (request) =>
    cancel(context(request), (request.params as z.infer<typeof idParams>).id),
  );

  app.get('/v1/tasks/:id/events', { config: { role: 'submitter' }, schema: { tags: ['tasks'], params, querystring: paged } }, async (request) =>
    taskHistory(context(request), (request.params as z.infer<typeof idParams>).id, request.query as z.infer<typeof pageQuery>),
  );

  app.get('/v1/machines', { config: { role: 'operator' }, schema: { tags: ['machines'], querystring: documented(machineListQuery) } }, async (request) => {
    const q = request.query as z.infer<typeof machineListQuery>;
    return machinesOf(context(request), { pool: q.pool, state: q.state, limit: q.limit, cursor: q.cursor });
  });

  app.get('/v1/machines/:id', { config: { role: 'operator' }, schema: { tags: ['machines'], params, querystring: query } }, async (request) =>
    showMachine(context(request), (request.params as z.infer<typeof idParams>).id),
  );

  app.get('/v1/machines/:id/events', { config: { role: 'operator' }, schema: { tags: ['machines'], params, querystring: paged } }, async (request) =>
    machineHistory(context(request), (request.params as z.infer<typeof idParams>).id, request.query as z.infer<typeof pageQuery>),
  );

  app.post('/v1/machines/:id/drain', { config: { role: 'operator' }, schema: { tags: ['machines'], params, querystring: documented(drainQuery) } }, async (request) => {
    const q = request.query as z.infer<typeof drainQuery>;
    return drainOne(context(request), (request.params as z.infer<typeof idParams>).id, { afterTask: q.after_task === 'true' });
  });

  app.get('/v1/pools', { config: { role: 'operator' }, schema: { tags: ['pools'], querystring: paged } }, async (request) =>
    poolSummaries(context(request), request.query as z.infer<typeof pageQuery>),
  );

  app.get('/v1/daemons', { config: { role: 'operator' }, schema: { tags: ['daemons'], querystring: paged } }, async (request) =>
    daemonsPage(context(request), request.query as z.infer<typeof pageQuery>),
  );

  // Tokens over REST for admins (the CLI's `tokens` commands do the same against the database).
  app.get('/v1/tokens', { config: { role: 'admin' }, schema: { tags: ['tokens'], querystring: paged } }, async (request) =>
    listTokens(context(request).db, request.query as z.infer<typeof pageQuery>),
  );
  app.post('/v1/tokens', { config: { role: 'admin' }, schema: { tags: ['tokens'], body: documented(tokenBody), querystring: query } }, async (request, reply) => {
    const body = request.body as z.infer<typeof tokenBody>;
    const { token, view } = await createToken(context(request).db, { name: body.name, role: body.role, tenant: body.tenant, expiresInS: body.expires_in_s });
    return reply.code(201).send({ ...view, token });
  });
  app.post('/v1/tokens/:id/revoke', { config: { role: 'admin' }, schema: { tags: ['tokens'], params, querystring: query } }, async (request) =>
    revokeToken(context(request).db, (request.params as z.infer<typeof idParams>).id),
  );
}

function headerKey(request: FastifyRequest): string | undefined {
  const raw = request.headers['idempotency-key'];
  if (raw === undefined) return undefined;
  const parsed = idempotencyKey.safeParse(Array.isArray(raw) ? raw.join(',') : raw);
  if (!parsed.success) throw new ValidationFailed([{ field: 'header.idempotency-key', message: parsed.error.issues[0]?.message ?? 'invalid' }]);
  return parsed.data;
}
