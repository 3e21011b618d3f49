// The /ui routes without a browser: every answer carries the dashboard's CSP, files are
// revalidated by ETag, an unknown file is a problem+json 404, and a bundle that fails to build is
// a 503 that the next request retries.
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { DASHBOARD_CSP, registerDashboard } from '../../src/api/dashboard.js';
import type { DashboardAssets } from '../../src/api/dashboard-bundle.js';

const ASSETS: DashboardAssets = new Map([
  ['index.html', { type: 'text/html; charset=utf-8', body: Buffer.from('<!doctype html>'), etag: '"page"' }],
  ['app.js', { type: 'text/javascript; charset=utf-8', body: Buffer.from('export {}'), etag: '"js"' }],
]);

describe('the /ui routes', () => {
  it('serve the page and its files under the CSP, with ETags', async () => {
    const app = Fastify();
    registerDashboard(app, () => Promise.resolve(ASSETS));
    for (const url of ['/ui', '/ui/', '/ui/index.html']) {
      const page = await app.inject({ url });
      expect([page.statusCode, page.body, page.headers['content-security-policy'], page.headers.etag]).toEqual([200, '<!doctype html>', DASHBOARD_CSP, '"page"']);
      expect(page.headers['x-content-type-options']).toBe('nosniff');
    }
    expect((await app.inject({ url: '/ui/app.js', headers: { 'if-none-match': '"js"' } })).statusCode).toBe(304);
    const missing = await app.inject({ url: '/ui/other.js' });
    expect([missing.statusCode, missing.headers['content-type'], missing.headers['content-security-policy']]).toEqual([404, 'application/problem+json; charset=utf-8', DASHBOARD_CSP]);
    await app.close();
  });

  it('answer 503 while the bundle cannot be built, and build again on the next request', async () => {
    const app = Fastify();
    let builds = 0;
    registerDashboard(app, () => (++builds === 1 ? Promise.reject(new Error('esbuild failed')) : Promise.resolve(ASSETS)));
    const failed = await app.inject({ url: '/ui' });
    expect([failed.statusCode, failed.json().type]).toEqual([503, 'https://sandfleet.dev/problems/dashboard-unavailable']);
    expect((await app.inject({ url: '/ui' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/ui/app.js' })).statusCode).toBe(200);
    expect(builds).toBe(2);
    await app.close();
  });

  it('keep the policy strict: nothing inline, nothing from elsewhere, no form submission', () => {
    expect(DASHBOARD_CSP).toContain("default-src 'self'");
    expect(DASHBOARD_CSP).not.toMatch(/unsafe-|https?:|\*/);
    expect(DASHBOARD_CSP).toContain("form-action 'none'");
  });
});
