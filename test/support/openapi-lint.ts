// Redocly's linter on an OpenAPI document, with the project's ruleset (redocly.yaml at the root).
// It runs the CLI as a developer would, offline: telemetry and the update check are turned off.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = createRequire(import.meta.url).resolve('@redocly/cli/bin/cli.js');
export const RULESET = path.join(ROOT, 'redocly.yaml');

export interface LintProblem {
  ruleId: string;
  severity: 'error' | 'warn';
  message: string;
  /** Where in the document, as JSON pointers. */
  where: string[];
}

export interface LintResult {
  exitCode: number | null;
  totals: { errors: number; warnings: number; ignored: number };
  problems: LintProblem[];
  /** What the CLI wrote to stderr (the summary, and any crash). */
  stderr: string;
}

interface JsonReport {
  totals: LintResult['totals'];
  problems: { ruleId: string; severity: 'error' | 'warn'; message: string; location?: { pointer?: string }[] }[];
}

export async function lintDocument(document: object): Promise<LintResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sandfleet-openapi-'));
  const file = path.join(dir, 'openapi.json');
  writeFileSync(file, JSON.stringify(document, null, 2));
  try {
    const { code, stdout, stderr } = await run(process.execPath, [CLI, 'lint', file, '--config', RULESET, '--format', 'json']);
    let report: JsonReport;
    try {
      report = JSON.parse(stdout) as JsonReport;
    } catch {
      throw new Error(`redocly lint exited ${code} without a JSON report: ${stderr.slice(0, 2000)}`);
    }
    const problems = report.problems.map((p) => ({ ruleId: p.ruleId, severity: p.severity, message: p.message, where: (p.location ?? []).map((l) => l.pointer ?? '') }));
    return { exitCode: code, totals: report.totals, problems, stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function run(command: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
