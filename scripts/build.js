// The compiled build: esbuild bundles src/cli/main.ts (and what it imports lazily, as chunks) to
// dist/cli/, the JavaScript the `sandfleet` binary and `npm start` run. Dependencies stay
// external (node_modules), so the bundle is small and Node resolves them as usual.
//
// Several processes may build at once (tests spawning the CLI in parallel after a source edit):
// each builds into its own directory and renames files into place, chunks (content-hashed names)
// first and entry points last, so a reader never sees an entry whose chunks are missing.
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(ROOT, 'dist', 'cli');
export const BUNDLE = path.join(OUT, 'main.js');
const ENTRY = path.join(ROOT, 'src', 'cli', 'main.ts');

/** True while dist/cli/main.js exists and no file under src/ is newer than it. */
export function bundleIsFresh() {
  if (!existsSync(BUNDLE)) return false;
  const built = statSync(BUNDLE).mtimeMs;
  const src = path.join(ROOT, 'src');
  return readdirSync(src, { recursive: true }).every((file) => statSync(path.join(src, String(file))).mtimeMs <= built);
}

export async function build() {
  // esbuild is a runtime dependency (the Docker image builds with `npm ci --omit=dev`).
  const esbuild = await import('esbuild');
  mkdirSync(OUT, { recursive: true });
  const staging = mkdtempSync(path.join(ROOT, 'dist', '.build-'));
  try {
    await esbuild.build({
      entryPoints: [ENTRY],
      bundle: true,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      splitting: true,
      sourcemap: true,
      outdir: staging,
      entryNames: '[name]',
      chunkNames: '[name]-[hash]',
      logLevel: 'warning',
    });
    const files = readdirSync(staging);
    const isEntry = (f) => f === 'main.js' || f === 'main.js.map';
    for (const f of [...files.filter((f) => !isEntry(f)), ...files.filter(isEntry).sort().reverse()]) renameSync(path.join(staging, f), path.join(OUT, f));
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // `npm run build` starts clean, so chunks of earlier builds do not pile up.
  rmSync(OUT, { recursive: true, force: true });
  await build();
}
