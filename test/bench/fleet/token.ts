// The submitter token, made as an operator makes the first one: `sandfleet tokens create`
// against the daemons' database (the CLI works straight on PostgreSQL, no admin token needed).
import { execFile } from 'node:child_process';
import { BIN, childEnv, ROOT } from '../sandfleet-bin.js';

export function createSubmitterToken(config: string, env: Record<string, string>): Promise<string> {
  const args = [BIN, '--config', config, 'tokens', 'create', '--role', 'submitter', '--name', 'bench-fleet', '--json'];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: ROOT, env: childEnv(env), timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`sandfleet tokens create failed: ${error.message}\n${stderr}`));
      try {
        const token = (JSON.parse(stdout) as { token?: unknown }).token;
        if (typeof token !== 'string') throw new Error('no token in the answer');
        resolve(token);
      } catch (e) {
        reject(new Error(`sandfleet tokens create answered something else than JSON with a token (${String(e)}): ${stdout.slice(0, 300)}`));
      }
    });
  });
}
