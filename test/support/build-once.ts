// Vitest global setup: the tests spawn the real `sandfleet` binary, which runs dist/ and rebuilds
// it when a source is newer. Building once here, before any file runs, spares every parallel
// test file from finding it stale at once.
import { build, bundleIsFresh } from '../../scripts/build.js';

export default async function setup(): Promise<void> {
  if (!bundleIsFresh()) await build();
}
