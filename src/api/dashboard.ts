// The web dashboard at /ui: a page shell, one script and one stylesheet, all from this server
// under a Content-Security-Policy that admits nothing else. The page holds no data of its own: it
// calls the /v1 API with the bearer token its user pasted, so the API's roles decide what it shows.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bundleDashboard, type DashboardAssets } from './dashboard-bundle.js';
import { problem, sendProblem } from './problems.js';

/**
 * Only this origin's script, styles and API; no inline script or style, no frames, no plugins, no
 * form submission anywhere (the sign-in form is handled by script, so a token can never end up
 * in a URL). `data:` images are Pico CSS's icons (select chevrons, checkboxes), inline SVG.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const HEADERS = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  // Revalidated on every load (by ETag): a daemon upgraded in place serves its new page at once.
  'cache-control': 'no-cache',
};

/** Builds the assets once, on the first request that needs them; a failed build is retried by the next. */
function once(load: () => Promise<DashboardAssets>): () => Promise<DashboardAssets> {
  let pending: Promise<DashboardAssets> | undefined;
  return () => {
    pending ??= load().catch((error: unknown) => {
      pending = undefined;
      throw error;
    });
    return pending;
  };
}

export function registerDashboard(app: FastifyInstance, load: () => Promise<DashboardAssets> = bundleDashboard): void {
  const assets = once(load);

  const serve = async (name: string, request: FastifyRequest, reply: FastifyReply) => {
    let files: DashboardAssets;
    try {
      files = await assets();
    } catch (error) {
      request.log.error({ err: error }, 'the dashboard could not be built');
      return sendProblem(reply.headers(HEADERS), problem(503, 'dashboard-unavailable', 'the dashboard could not be built; the daemon log says why'));
    }
    const file = files.get(name);
    if (!file) return sendProblem(reply.headers(HEADERS), problem(404, 'not-found', `no dashboard file ${name}`));
    reply.headers(HEADERS).header('etag', file.etag);
    if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
    return reply.type(file.type).send(file.body);
  };

  app.get('/ui', { schema: { hide: true } }, (request, reply) => serve('index.html', request, reply));
  app.get('/ui/', { schema: { hide: true } }, (request, reply) => serve('index.html', request, reply));
  app.get('/ui/:file', { schema: { hide: true } }, (request, reply) => serve((request.params as { file: string }).file, request, reply));
}
