// The version the CLI reports: package.json's, read where it is installed (src/cli/ and the
// bundle's dist/cli/ both sit two levels below it), so it cannot disagree with the package.
import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof manifest.version === 'string' ? manifest.version : 'unknown';
}

/**
 * `--version --json` (either order, `-V` too). commander answers `--version` as soon as it
 * reads it, before it could see a `--json` after it, so this one form is answered first.
 */
export function wantsJsonVersion(args: readonly string[]): boolean {
  return args.length === 2 && args.includes('--json') && (args.includes('--version') || args.includes('-V'));
}
