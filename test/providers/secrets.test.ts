// No credential leaks: provider errors (what gets logged) never carry a token or key, even when
// the SDK error behind them holds the signed request; and no tracked file holds a credential.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ec2Provider } from '../../src/providers/aws/ec2-provider.js';
import { VmssProvider } from '../../src/providers/azure/vmss-provider.js';
import { isProviderError } from '../../src/providers/errors.js';
import { makeTestCertificate, type TestCertificate } from '../emulators/arm/certificate.js';
import { ArmEmulator } from '../emulators/arm/server.js';
import { Ec2Emulator } from '../emulators/ec2/server.js';

const TOKEN = 'eyJ0eXAiOiJKV1Qi.SANDFLEET-CANARY-TOKEN.sig';
const SECRET_KEY = 'SANDFLEET/CANARY/SECRET/ACCESS/KEY/0123456789';

async function errorsOf(calls: (() => Promise<unknown>)[]): Promise<unknown[]> {
  const errors: unknown[] = [];
  for (const call of calls) {
    try {
      await call();
    } catch (error) {
      errors.push(error);
    }
  }
  return errors;
}

/**
 * Everything a logger could print of an error: its inspection, its JSON, and every string
 * reachable through its properties, hidden ones and Map entries included (structured loggers
 * walk properties rather than calling inspect, which SDKs redact).
 */
function everythingPrintable(error: unknown): string {
  const strings: string[] = [inspect(error, { depth: 20, showHidden: true }), JSON.stringify(error) ?? '', String(error)];
  const seen = new Set<unknown>();
  const walk = (value: unknown, depth: number): void => {
    if (typeof value === 'string') strings.push(value);
    if (!value || typeof value !== 'object' || seen.has(value) || depth > 12) return;
    seen.add(value);
    if (value instanceof Map) {
      for (const [k, v] of value) {
        walk(k, depth + 1);
        walk(v, depth + 1);
      }
    }
    for (const key of Object.getOwnPropertyNames(value)) {
      try {
        walk((value as Record<string, unknown>)[key], depth + 1);
      } catch {
        // a throwing getter prints nothing
      }
    }
  };
  walk(error, 0);
  return strings.join('\n');
}

describe('no credential in provider errors', () => {
  let certificate: TestCertificate;
  let arm: ArmEmulator;
  let ec2: Ec2Emulator;
  let armEndpoint: string;
  let ec2Endpoint: string;
  beforeAll(async () => {
    certificate = makeTestCertificate();
    arm = new ArmEmulator({ certificate, operationMs: 5 });
    ec2 = new Ec2Emulator();
    [armEndpoint, ec2Endpoint] = await Promise.all([arm.start(), ec2.start()]);
  });
  afterAll(async () => {
    await Promise.all([arm?.stop(), ec2?.stop()]);
  });

  it('azure: 401, 404 and 5xx errors do not carry the bearer token', async () => {
    const sub = '00000000-0000-4000-8000-0000000000aa';
    const provider = new VmssProvider({
      cluster: 'c',
      pool: 'p',
      adoption: { providerIdOf: () => Promise.resolve(null), adopted: () => Promise.resolve(new Set<string>()) },
      credential: { getToken: () => Promise.resolve({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 }) },
      tlsOptions: { ca: certificate.cert },
      settings: {
        subscriptionId: sub, resourceGroup: 'rg', location: 'westeurope', vmSize: 'Standard_D2s_v5',
        image: { publisher: 'Canonical', offer: 'ubuntu', sku: 'server' }, subnetId: `/subscriptions/${sub}/x/subnets/s`,
        sshPublicKey: 'ssh-ed25519 AAAA canary', endpoint: armEndpoint, maxRetries: 0, pollIntervalMs: 5,
      },
    });
    const id = `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/sf-c-p/virtualMachines/7`;
    arm.faults = { authFailure: true };
    const unauthorized = await errorsOf([() => provider.get(id)]);
    arm.faults = { serverErrorRate: 1 };
    const failing = await errorsOf([() => provider.list(), () => provider.create({ machineId: '11111111-1111-4111-8111-111111111111', name: 'n' })]);
    arm.faults = {};
    const missing = await errorsOf([() => provider.get(id)]);
    const all = [...unauthorized, ...failing, ...missing];
    expect(all.map((e) => (isProviderError(e) ? e.kind : 'other'))).toEqual(['fatal', 'transient', 'transient', 'not_found']);
    // The emulator did receive the token: the canary is real.
    expect(arm.calls.length).toBeGreaterThan(0);
    for (const e of all) expect(everythingPrintable(e)).not.toContain('CANARY-TOKEN');
  });

  it('aws: errors do not carry the secret access key', async () => {
    process.env.AWS_ACCESS_KEY_ID = 'AKIDCANARYACCESSKEY';
    process.env.AWS_SECRET_ACCESS_KEY = SECRET_KEY;
    const provider = new Ec2Provider({ cluster: 'c', pool: 'p', settings: { region: 'us-east-1', endpoint: ec2Endpoint, imageId: 'ami-0abc', instanceType: 't3.micro', maxAttempts: 1 } });
    ec2.faults = { authFailure: true };
    const all = await errorsOf([() => provider.list(), () => provider.create({ machineId: '22222222-2222-4222-8222-222222222222', name: 'n' })]);
    ec2.faults = {};
    expect(all).toHaveLength(2);
    for (const e of all) expect(everythingPrintable(e)).not.toContain('CANARY/SECRET');
  });
});

describe('no credential in tracked files', () => {
  const root = path.resolve(import.meta.dirname, '../..');
  const files = execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' }).split('\n').filter((f) => f && !f.endsWith('package-lock.json'));
  const patterns: [string, RegExp][] = [
    ['AWS access key id', /\b(AKIA|ASIA)[0-9A-Z]{16}\b/],
    ['AWS secret access key assignment', /aws_secret_access_key\s*[=:]\s*\S{20,}/i],
    ['private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
    ['Azure client secret assignment', /client_?secret\s*[=:]\s*["']?[A-Za-z0-9~._-]{20,}/i],
    // Documentation placeholders (user:password@, :REPLACE_ME@, :...@) are not passwords.
    ['connection string with a password', /postgres(ql)?:\/\/[^:\s/]+:(?!(password|REPLACE_ME|\.\.\.|…)@)[^@\s/]+@/],
  ];

  it('finds none of the usual credential shapes', () => {
    expect(files.length).toBeGreaterThan(20);
    const found: string[] = [];
    for (const file of files) {
      const text = readFileSync(path.join(root, file), 'utf8');
      for (const [what, re] of patterns) if (re.test(text)) found.push(`${file}: ${what}`);
    }
    expect(found).toEqual([]);
  });
});
