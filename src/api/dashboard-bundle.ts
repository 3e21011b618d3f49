// The dashboard's browser code (src/ui) bundled in memory by esbuild on first use: nothing to
// build beforehand or forget to rebuild, nothing fetched at run time (preact and Pico CSS come
// from node_modules), and the same sources always give the same bytes.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** src/ui, from this file in src/api or from the bundle in dist/cli (both two levels below the root). */
export const UI_SOURCE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/ui');

export interface DashboardAsset {
  type: string;
  body: Buffer;
  /** A strong validator of the body, so a browser revalidates instead of downloading again. */
  etag: string;
}

/** The dashboard's files by name: index.html, app.js, app.css, icon.svg. */
export type DashboardAssets = ReadonlyMap<string, DashboardAsset>;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The page shell and icon are served as written; the script and styles come out of esbuild. */
const STATIC_FILES = ['index.html', 'icon.svg'];

function asset(name: string, body: Buffer): DashboardAsset {
  const type = TYPES[path.extname(name)];
  if (!type) throw new Error(`no content type for dashboard file ${name}`);
  return { type, body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

export async function bundleDashboard(source = UI_SOURCE): Promise<DashboardAssets> {
  // Imported here, not at the top: every CLI command loads this module, few serve the dashboard.
  const { build } = await import('esbuild');
  const result = await build({
    absWorkingDir: source,
    entryPoints: { app: path.join(source, 'main.tsx') },
    bundle: true,
    write: false,
    outdir: 'out',
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: true,
    logLevel: 'silent',
  });
  const assets = new Map<string, DashboardAsset>();
  for (const file of result.outputFiles) assets.set(path.basename(file.path), asset(path.basename(file.path), Buffer.from(file.contents)));
  for (const name of STATIC_FILES) assets.set(name, asset(name, await readFile(path.join(source, name))));
  return assets;
}
