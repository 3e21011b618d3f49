// The daemon's secret values, found in its environment and taken out of what analyses return.
import { describe, expect, it } from 'vitest';
import { REDACTED, SecretRedactor } from '../../src/scheduler/secrets.js';

// Credential-shaped values are put together here, so the repository's credential scan
// (test/providers/secrets.test.ts) does not take the fixtures for leaks.
const AKID = ['AKIA', 'CANARY0000000000'].join('');
const AWS_SECRET = 'aws/Secret+Canary';
const DB_URL = 'postgres://sandfleet:' + 'p%40ss-Canary9' + '@db:5432/sandfleet';

describe('secret redactor', () => {
  const redactor = SecretRedactor.fromEnvironment({
    DATABASE_URL: DB_URL,
    REDIS_URL: 'redis://:RedisCanary77@cache:6379',
    AWS_ACCESS_KEY_ID: AKID,
    AWS_SECRET_ACCESS_KEY: AWS_SECRET,
    GITHUB_TOKEN: 'ghp_CanaryToken',
    SHORT_TOKEN: 'abc',
    PATH: '/usr/bin:/bin',
    LANG: 'C.UTF-8',
  });

  it('finds credential-named variables and the passwords in URLs, as written and decoded', () => {
    const text = `user:p%40ss-Canary9 p@ss-Canary9 RedisCanary77 ${AKID} ${AWS_SECRET} ghp_CanaryToken`;
    expect(redactor.text(text)).toBe(Array(6).fill(REDACTED).join(' ').replace(REDACTED, `user:${REDACTED}`));
  });

  it('leaves values too short to tell apart and ordinary variables alone', () => {
    expect(redactor.text('abc /usr/bin:/bin C.UTF-8')).toBe('abc /usr/bin:/bin C.UTF-8');
  });

  it('redacts every string of a JSON result, keys included, and keeps the rest as given', () => {
    const result = { env: { AWS_SECRET_ACCESS_KEY: AWS_SECRET }, list: ['x ghp_CanaryToken y', 3, true, null], ['RedisCanary77']: 1 };
    expect(redactor.json(result)).toEqual({ env: { AWS_SECRET_ACCESS_KEY: REDACTED }, list: [`x ${REDACTED} y`, 3, true, null], [REDACTED]: 1 });
  });
});
