// The agent endpoints: an agent on a machine (or an external worker holding the machine's
// credential) waits for the machine's lease, beats while it runs and reports the verdict. They
// take the machine's credential (`Authorization: Bearer sfm_…`), not an API token: it works only
// for its own machine, and only while that machine lives. Every refusal is counted.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { MachineCredentials } from '../scheduler/agent/credentials.js';
import { CredentialExpired, finish, heartbeat, LeaseEnded, nextLease, type AgentContext } from '../scheduler/agent/agent-service.js';
import { problem, sendProblem } from './problems.js';
import { documented } from './route-schema.js';
import { agentFinishBody, agentLeaseQuery, emptyQuery, idParams, RESULT_LIMIT } from './schemas.js';

export type AgentRefusal = 'missing' | 'invalid' | 'expired';

export interface AgentApi {
  context: AgentContext;
  credentials: MachineCredentials;
  /** Counts refused credentials (metrics). */
  onRefused?: (reason: AgentRefusal) => void;
}

declare module 'fastify' {
  interface FastifyRequest {
    machineId: string | null;
  }
}

export function registerAgentRoutes(app: FastifyInstance, agent: AgentApi): void {
  app.decorateRequest('machineId', null);
  const refuse = (reply: FastifyReply, reason: AgentRefusal, detail: string) => {
    agent.onRefused?.(reason);
    reply.header('www-authenticate', 'Bearer');
    return sendProblem(reply, problem(401, 'unauthorized', detail));
  };
  const authenticate = async (request: FastifyRequest, reply: FastifyReply) => {
    const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '');
    if (!match?.[1]) return refuse(reply, 'missing', 'send Authorization: Bearer <the machine credential from its user data>');
    const machineId = await agent.credentials.verify(match[1]);
    if (!machineId) return refuse(reply, 'invalid', 'the machine credential is not valid');
    request.machineId = machineId;
  };
  const handle = async <T>(reply: FastifyReply, work: () => Promise<T>): Promise<T | FastifyReply> => {
    try {
      return await work();
    } catch (error) {
      if (error instanceof CredentialExpired) return refuse(reply, 'expired', error.message);
      if (error instanceof LeaseEnded) return sendProblem(reply, problem(409, 'lease-ended', error.message));
      throw error;
    }
  };
  const machineOf = (request: FastifyRequest) => request.machineId ?? '';
  const schema = (extra: Record<string, unknown>) => ({ tags: ['agents'], security: [{ machine: [] }], ...extra });

  app.get('/v1/agent/lease', { preHandler: authenticate, schema: schema({ querystring: documented(agentLeaseQuery) }) }, async (request, reply) => {
    const q = request.query as z.infer<typeof agentLeaseQuery>;
    return handle(reply, async () => {
      const task = await nextLease(agent.context, machineOf(request), q.wait_s * 1000);
      if (!task) return reply.code(204).send();
      return { task_id: task.id, attempt: task.attempts, pool: task.pool, payload: task.payload, timeout_s: task.timeoutS, started_at: task.startedAt };
    });
  });

  const params = documented(idParams);
  const query = documented(emptyQuery);
  app.post('/v1/agent/leases/:id/heartbeat', { preHandler: authenticate, schema: schema({ params, querystring: query }) }, async (request, reply) =>
    handle(reply, async () => {
      await heartbeat(agent.context, machineOf(request), (request.params as z.infer<typeof idParams>).id);
      return reply.code(204).send();
    }),
  );

  app.post(
    '/v1/agent/leases/:id/finish',
    { preHandler: authenticate, bodyLimit: 4 * RESULT_LIMIT, schema: schema({ params, querystring: query, body: documented(agentFinishBody) }) },
    async (request, reply) => {
      const body = request.body as z.infer<typeof agentFinishBody>;
      if (body.outcome === 'completed' && Buffer.byteLength(JSON.stringify(body.result ?? null)) > RESULT_LIMIT) {
        return sendProblem(reply, problem(413, 'result-too-large', `the result must be at most ${RESULT_LIMIT} bytes of JSON`));
      }
      return handle(reply, async () => {
        const verdict = body.outcome === 'completed' ? { outcome: body.outcome, result: body.result ?? null } : body;
        const task = await finish(agent.context, machineOf(request), (request.params as z.infer<typeof idParams>).id, verdict);
        return { task_id: task?.id ?? null, recorded: body.outcome };
      });
    },
  );
}
