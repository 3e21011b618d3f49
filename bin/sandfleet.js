#!/usr/bin/env node
// Runs the compiled build (dist/cli/main.js). When it is missing or a source file is newer (a
// checkout just edited), it is rebuilt first: the source is never silently out of date, and no
// TypeScript loader is needed at run time.
import { build, bundleIsFresh, BUNDLE } from '../scripts/build.js';

if (!bundleIsFresh()) {
  process.stderr.write('sandfleet: building dist/cli from src/ (missing or older than the sources) ...\n');
  await build();
}
process.setSourceMapsEnabled(true);
const { main } = await import(BUNDLE);
process.exitCode = await main(process.argv);
