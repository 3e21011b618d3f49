// The web dashboard at /ui in a real headless Chromium, against a real daemon (in this process)
// on a throwaway database: its pages load under the CSP with no console errors or violations; a
// task submitted over the API shows up and completes in the page without a reload; an operator
// drains a machine and cancels a task from it, as the API then reports; a submitter sees the tasks
// only, the API refusing the rest; the token never travels in a URL, never reaches the logs, and
// goes on sign-out or when the API stops taking it. The pools view is saved as docs/dashboard.png.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { startDaemon, type RunningDaemon } from '../../src/daemon/daemon.js';
import { createLogger } from '../../src/daemon/logger.js';
import { databaseUrlFromEnv, dropDatabase } from '../../src/db/index.js';
import { createToken, revokeToken } from '../../src/scheduler/service/tokens.js';
import { until } from '../support/until.js';
import { ROOT } from './process.js';

/** Debian's Chromium; .ci/run installs it when missing. */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SCREENSHOT = path.join(ROOT, 'docs/dashboard.png');

// Two sim pools: `quick` runs tasks in well under a second; `slow` keeps its tasks and its
// stopping machines for ten minutes, so what the dashboard does to them stays visible.
const CONFIG = `
cluster: sf-dashboard-test
queue: { backend: postgres }
log: { level: info }
scheduler: { shutdown_grace_s: 1, supervise_every_ms: 200, max_machines_total: 10 }
pools:
  - name: quick
    provider: sim
    platform: linux
    min_ready: 1
    max_size: 3
    max_uses: 1
    price_per_hour: 0.096
    recycle: delete
    autoscale: { policy: demand }
    settings: { bootDelayMs: 300, stopDelayMs: 100, terminateDelayMs: 100 }
    runner: { kind: sim, min_duration_ms: 200, max_duration_ms: 500 }
  - name: slow
    provider: sim
    platform: windows
    min_ready: 2
    max_size: 4
    idle_timeout_s: 3600
    price_per_hour: 0.192
    recycle: reimage
    autoscale: { policy: demand }
    settings: { bootDelayMs: 300, stopDelayMs: 600000, terminateDelayMs: 600000 }
    runner: { kind: sim, min_duration_ms: 600000, max_duration_ms: 600000 }
`;

const name = `sf_test_dashboard_${randomBytes(4).toString('hex')}`;
const url = new URL(databaseUrlFromEnv());
url.pathname = `/${name}`;
const logLines: string[] = [];
let daemon: RunningDaemon;
let browser: Browser;
let base = '';
const tokens = { operator: '', submitter: '', revoked: '' };
let revokedId = '';

beforeAll(async () => {
  const config = parseConfig(CONFIG, 'dashboard test', { DATABASE_URL: url.toString(), SANDFLEET_PORT: '0' });
  daemon = await startDaemon(config, createLogger('info', { cluster: config.cluster }, { write: (line: string) => void logLines.push(line) }));
  base = `http://127.0.0.1:${daemon.port}`;
  const db = daemon.database.db;
  tokens.operator = (await createToken(db, { name: 'dash-operator', role: 'operator' })).token;
  tokens.submitter = (await createToken(db, { name: 'dash-submitter', role: 'submitter' })).token;
  const revoked = await createToken(db, { name: 'dash-revoked', role: 'operator' });
  [tokens.revoked, revokedId] = [revoked.token, revoked.view.id];
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await daemon?.stop();
  await dropDatabase(url.toString(), name);
}, 60_000);

async function api(method: 'GET' | 'POST', path: string, token: string, body?: unknown): Promise<{ status: number; json: any }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}

/** A browser tab on the dashboard that records what it requested, what it logged, and every CSP violation. */
interface Tab {
  context: BrowserContext;
  page: Page;
  urls: string[];
  responses: { url: string; status: number }[];
  consoleErrors: string[];
  violations: () => Promise<string[]>;
}

async function openTab(): Promise<Tab> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 760 } });
  // Runs before the page's own script, outside its CSP: collects what the policy blocked.
  await context.addInitScript(() => {
    const page = globalThis as any;
    const seen: string[] = [];
    page.__violations = seen;
    page.document.addEventListener('securitypolicyviolation', (e: any) => seen.push(`${e.effectiveDirective} ${e.blockedURI}`));
  });
  const page = await context.newPage();
  const tab: Tab = {
    context,
    page,
    urls: [],
    responses: [],
    consoleErrors: [],
    violations: () => page.evaluate(() => [...((globalThis as any).__violations as string[])]),
  };
  page.on('request', (request) => tab.urls.push(request.url()));
  page.on('response', (response) => tab.responses.push({ url: response.url(), status: response.status() }));
  page.on('console', (message) => {
    if (message.type() === 'error') tab.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => tab.consoleErrors.push(`uncaught: ${error.message}`));
  // Drain and cancel ask for confirmation.
  page.on('dialog', (dialog) => void dialog.accept());
  return tab;
}

async function signIn(tab: Tab, token: string): Promise<void> {
  await tab.page.goto(`${base}/ui`);
  await tab.page.locator('input[name="token"]').fill(token);
  await tab.page.getByRole('button', { name: 'Sign in' }).click();
  await tab.page.getByRole('button', { name: 'Sign out' }).waitFor();
}

/** Where the page is, by its fragment: a click on a link, as a person would navigate. */
async function go(tab: Tab, fragment: string): Promise<void> {
  await tab.page.evaluate((f) => ((globalThis as any).location.hash = f), fragment);
}

function expectTokenNeverInUrls(tab: Tab, ...secrets: string[]): void {
  expect(tab.urls.length).toBeGreaterThan(0);
  for (const secret of secrets) {
    const leaked = tab.urls.filter((u) => u.includes(secret) || u.includes(encodeURIComponent(secret)) || decodeURIComponent(u).includes(secret));
    expect(leaked).toEqual([]);
  }
}

/** A marker in the page's window: still there later means the document was never reloaded. */
async function markDocument(page: Page): Promise<void> {
  await page.evaluate(() => ((globalThis as any).__sameDocument = true));
}
async function sameDocument(page: Page): Promise<boolean> {
  return page.evaluate(() => (globalThis as any).__sameDocument === true);
}

async function readyMachine(pool: string): Promise<{ id: string; name: string }> {
  let found: { id: string; name: string } | undefined;
  await until(async () => {
    const list = await api('GET', `/v1/machines?pool=${pool}&state=ready`, tokens.operator);
    found = (Array.isArray(list.json) ? list.json : list.json.items)[0];
    return Boolean(found);
  }, 60_000);
  return found!;
}

describe('the dashboard', () => {
  it('is served under a strict CSP, and its pages load with no console errors or CSP violations', async () => {
    const page = await fetch(`${base}/ui`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("form-action 'none'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    expect(await page.text()).not.toMatch(/<script>|style=/);
    const script = await fetch(`${base}/ui/app.js`);
    expect([script.status, script.headers.get('content-type')]).toEqual([200, 'text/javascript; charset=utf-8']);
    expect(script.headers.get('etag')).toMatch(/^"/);
    expect((await fetch(`${base}/ui/app.js`, { headers: { 'if-none-match': script.headers.get('etag')! } })).status).toBe(304);
    expect((await fetch(`${base}/ui/nothing.js`)).status).toBe(404);
    // The dashboard is no operation of the API.
    const openapi = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(openapi.paths).filter((p) => p.startsWith('/ui'))).toEqual([]);

    const tab = await openTab();
    try {
      await signIn(tab, tokens.operator);
      await tab.page.locator('table[data-view="pools"] tr[data-pool="quick"]').waitFor();
      await tab.page.locator('table[data-view="pools"] tr[data-pool="slow"]').waitFor();
      await go(tab, '#/machines');
      await tab.page.locator('table[data-view="machines"] tbody tr').first().waitFor();
      await go(tab, '#/tasks');
      await tab.page.getByRole('heading', { name: 'Tasks' }).waitFor();
      expect(tab.consoleErrors).toEqual([]);
      expect(await tab.violations()).toEqual([]);
      expectTokenNeverInUrls(tab, tokens.operator);

      // The violation check itself works: an inline script is refused, and reported.
      await tab.page.evaluate(() => {
        const { document } = globalThis as any;
        const inline = document.createElement('script');
        inline.textContent = 'window.__inlineRan = true';
        document.body.append(inline);
      });
      await until(async () => (await tab.violations()).length > 0, 10_000);
      expect(await tab.violations()).toEqual([expect.stringMatching(/^script-src/)]);
      expect(await tab.page.evaluate('window.__inlineRan')).toBeUndefined();
    } finally {
      await tab.context.close();
    }
  });

  it('shows a task submitted over the API and its completion, without reloading', async () => {
    const tab = await openTab();
    try {
      await signIn(tab, tokens.operator);
      await go(tab, '#/tasks?pool=quick');
      await tab.page.getByRole('heading', { name: 'Tasks' }).waitFor();
      await markDocument(tab.page);
      const submitted = await api('POST', '/v1/tasks', tokens.submitter, { pool: 'quick', payload: { sample: 'dashboard.exe' } });
      expect(submitted.status).toBe(201);
      const row = tab.page.locator(`tr[data-task-id="${submitted.json.id}"]`);
      await row.waitFor({ timeout: 30_000 });
      await row.locator('.state', { hasText: /^completed$/ }).waitFor({ timeout: 60_000 });
      expect((await api('GET', `/v1/tasks/${submitted.json.id}`, tokens.operator)).json.state).toBe('completed');
      // Its detail shows the runner's result.
      await row.getByRole('link').first().click();
      await tab.page.locator('pre[data-field="result"]', { hasText: '"runner": "sim"' }).waitFor();
      expect(await sameDocument(tab.page)).toBe(true);
      expect(tab.responses.filter((r) => r.url.startsWith(`${base}/ui`) && !r.url.includes('/ui/')).length).toBe(1);
      expect(tab.consoleErrors).toEqual([]);
      expect(await tab.violations()).toEqual([]);
      expectTokenNeverInUrls(tab, tokens.operator);
    } finally {
      await tab.context.close();
    }
  });

  it('lets an operator drain a machine and cancel a task, as the API then reports', async () => {
    const tab = await openTab();
    try {
      await signIn(tab, tokens.operator);
      await markDocument(tab.page);
      // A task that holds a slow machine for ten minutes; a quick one done, for the wait times.
      const long = await api('POST', '/v1/tasks', tokens.operator, { pool: 'slow', payload: { sample: 'long.exe' } });
      expect(long.status).toBe(201);
      const quick = await api('POST', '/v1/tasks', tokens.operator, { pool: 'quick', payload: {} });
      await until(async () => (await api('GET', `/v1/tasks/${quick.json.id}`, tokens.operator)).json.state === 'completed', 60_000);
      await until(async () => (await api('GET', `/v1/tasks/${long.json.id}`, tokens.operator)).json.state === 'running', 60_000);

      const target = await readyMachine('slow');
      await go(tab, '#/machines?pool=slow');
      const row = tab.page.locator(`tr[data-machine-id="${target.id}"]`);
      await row.getByRole('button', { name: 'Drain', exact: true }).click();
      await tab.page.getByRole('status').filter({ hasText: target.name }).waitFor();
      const drained = await api('GET', `/v1/machines/${target.id}`, tokens.operator);
      expect(['draining', 'stopping']).toContain(drained.json.state);
      expect(drained.json.events).toContainEqual(expect.objectContaining({ from: 'ready', to: 'draining', actor: expect.stringMatching(/^api:dash-operator#/) }));
      await row.locator('.state', { hasText: /^(draining|stopping)$/ }).waitFor();

      // Its timeline, in its own view.
      await row.getByRole('link', { name: target.name }).click();
      await tab.page.locator('ol[data-view="timeline"] li[data-state="draining"]').waitFor();
      expect(await tab.page.locator('ol[data-view="timeline"] li').evaluateAll((items) => items.map((li) => li.getAttribute('data-state')))).toEqual(
        expect.arrayContaining(['provisioning', 'booting', 'ready', 'draining']),
      );

      // The pools view: desired against actual, machines by state (leased, draining or stopping),
      // and the quick pool's wait times from /metrics. Saved for the README.
      await go(tab, '#/pools');
      const slow = tab.page.locator('tr[data-pool="slow"]');
      await slow.locator('.state', { hasText: /^leased$/ }).waitFor();
      await slow.locator('.state', { hasText: /^(draining|stopping)$/ }).waitFor();
      await tab.page.locator('tr[data-pool="quick"] td', { hasText: /^\d[\d.]* s \/ \d[\d.]* s$/ }).waitFor();
      // Machines against desired size and cap, as the API reports them (polled until both agree).
      await until(async () => {
        const pool = (await api('GET', '/v1/pools', tokens.operator)).json.items.find((p: any) => p.name === 'slow');
        const count = Object.values(pool.machines as Record<string, number>).reduce((a, b) => a + b, 0);
        return (await slow.locator('.size').textContent())?.trim() === `${count} / ${pool.desired_size} / ${pool.max_size}`;
      }, 30_000);
      // Cropped to the table (the full page grows past a short viewport).
      await tab.page.setViewportSize({ width: 1280, height: 320 });
      await tab.page.screenshot({ path: SCREENSHOT, fullPage: true });
      await tab.page.setViewportSize({ width: 1280, height: 760 });

      await go(tab, '#/tasks?pool=slow');
      const task = tab.page.locator(`tr[data-task-id="${long.json.id}"]`);
      await task.getByRole('button', { name: 'Cancel' }).click();
      await tab.page.getByRole('status').filter({ hasText: long.json.id.slice(0, 8) }).waitFor();
      expect((await api('GET', `/v1/tasks/${long.json.id}`, tokens.operator)).json.state).toBe('canceled');
      await task.locator('.state', { hasText: /^canceled$/ }).waitFor();

      expect(await sameDocument(tab.page)).toBe(true);
      expect(tab.consoleErrors).toEqual([]);
      expect(await tab.violations()).toEqual([]);
      expectTokenNeverInUrls(tab, tokens.operator);
    } finally {
      await tab.context.close();
    }
  });

  it('shows a submitter only the tasks: no operator pages, and the API refuses them', async () => {
    const tab = await openTab();
    try {
      await signIn(tab, tokens.submitter);
      await tab.page.getByRole('heading', { name: 'Tasks' }).waitFor();
      const nav = tab.page.locator('nav.top');
      expect(await nav.getByRole('link', { name: 'Tasks' }).count()).toBe(1);
      expect(await nav.getByRole('link', { name: 'Pools' }).count()).toBe(0);
      expect(await nav.getByRole('link', { name: 'Machines' }).count()).toBe(0);
      expect(tab.responses).toContainEqual({ url: `${base}/v1/pools`, status: 403 });

      // Its own submissions show.
      const submitted = await api('POST', '/v1/tasks', tokens.submitter, { pool: 'quick', payload: { from: 'submitter' } });
      await tab.page.locator(`tr[data-task-id="${submitted.json.id}"]`).waitFor();

      // Asked for an operator page anyway, it shows the API's refusal.
      for (const [fragment, endpoint] of [
        ['#/machines', '/v1/machines'],
        ['#/pools', '/v1/pools'],
      ] as const) {
        await go(tab, fragment);
        await tab.page.getByRole('alert').filter({ hasText: 'Not allowed' }).waitFor();
        expect(await tab.page.locator('table[data-view="machines"], table[data-view="pools"]').count()).toBe(0);
        expect(tab.responses.filter((r) => r.url === `${base}${endpoint}`).map((r) => r.status)).toContain(403);
      }
      // The browser logs each refused request, and nothing else.
      expect(tab.consoleErrors.length).toBeGreaterThan(0);
      expect(tab.consoleErrors.filter((e) => !/status of 403/.test(e))).toEqual([]);
      expect(await tab.violations()).toEqual([]);
      expectTokenNeverInUrls(tab, tokens.submitter);
    } finally {
      await tab.context.close();
    }
  });

  it('keeps the token in the tab only: refused tokens are not kept, sign-out and revocation forget it, and it never reaches the logs', async () => {
    const tab = await openTab();
    try {
      await tab.page.goto(`${base}/ui`);
      await tab.page.locator('input[name="token"]').fill('sf_not-a-token');
      await tab.page.getByRole('button', { name: 'Sign in' }).click();
      await tab.page.getByRole('alert').filter({ hasText: 'refused the token' }).waitFor();
      expect(await tab.page.evaluate('sessionStorage.length')).toBe(0);

      await signIn(tab, tokens.operator);
      const stored = await tab.page.evaluate('({ session: { ...sessionStorage }, local: localStorage.length, cookie: document.cookie })');
      expect(stored).toEqual({ session: { 'sandfleet.token': tokens.operator }, local: 0, cookie: '' });
      await tab.page.getByRole('button', { name: 'Sign out' }).click();
      await tab.page.locator('input[name="token"]').waitFor();
      expect(await tab.page.evaluate('sessionStorage.length')).toBe(0);

      // A token revoked while the page shows: its next poll is refused, and the page signs out.
      await signIn(tab, tokens.revoked);
      await tab.page.locator('table[data-view="pools"]').waitFor();
      await revokeToken(daemon.database.db, revokedId);
      await tab.page.getByRole('alert').filter({ hasText: 'refused the token' }).waitFor({ timeout: 30_000 });
      await tab.page.locator('input[name="token"]').waitFor();
      expect(await tab.page.evaluate('sessionStorage.length')).toBe(0);

      expectTokenNeverInUrls(tab, tokens.operator, tokens.revoked, 'sf_not-a-token');
      expect(logLines.length).toBeGreaterThan(0);
      for (const secret of Object.values(tokens)) expect(logLines.filter((line) => line.includes(secret))).toEqual([]);
    } finally {
      await tab.context.close();
    }
  });
});
