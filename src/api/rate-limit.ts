// Per-token request limits, by @fastify/rate-limit: each bearer token may make so many requests a
// minute to this daemon; past that it is answered 429 with Retry-After. It runs after
// authentication (preHandler), so the budget is the token's, not its address's; requests without
// a token (health, metrics, agents with their machine credentials) are not limited here.
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';

export async function limitTokenRequests(app: FastifyInstance, perMinute: number): Promise<void> {
  await app.register(rateLimit, {
    global: true,
    hook: 'preHandler',
    max: perMinute,
    timeWindow: 60_000,
    keyGenerator: (request) => request.token?.id ?? request.ip,
    allowList: (request) => !request.token,
    errorResponseBuilder: (_request, context) =>
      Object.assign(new Error(`this token made more than ${context.max} requests in a minute; retry in ${context.after}`), { statusCode: 429, code: 'RATE_LIMITED' }),
  });
}
