#!/usr/bin/env node
// Runs the compiled bundle (`npm run build`: dist/cli/main.js) when it is at least as new as every
// source file, else the TypeScript sources through tsx's loader: a checkout works with no build
// step, and a stale bundle is never run. The bundle saves tsx's ~80 MiB and its start-up time.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bundle = path.join(root, 'dist', 'cli', 'main.js');

function bundleIsFresh() {
  if (!existsSync(bundle)) return false;
  const built = statSync(bundle).mtimeMs;
  const src = path.join(root, 'src');
  return readdirSync(src, { recursive: true }).every((file) => statSync(path.join(src, String(file))).mtimeMs <= built);
}

let main;
if (bundleIsFresh()) {
  process.setSourceMapsEnabled(true);
  ({ main } = await import(bundle));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
process.exitCode = await main(process.argv);
