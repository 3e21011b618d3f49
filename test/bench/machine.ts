// What the figures were measured on: they mean little without the machine, the versions and how
// busy the machine was (other people's tests share it).
import os from 'node:os';
import { Redis } from 'ioredis';
import pg from 'pg';
import { REDIS_URL } from './backends.js';
import { urlFor } from './database.js';

export interface MachineInfo {
  cpus: string;
  memory: string;
  os: string;
  node: string;
  postgres: string;
  redis: string;
  /** 1/5/15-minute load averages when asked. */
  load: string;
}

export async function describeMachine(): Promise<MachineInfo> {
  const cpus = os.cpus();
  return {
    cpus: `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown'}`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    postgres: await postgresVersion().catch((e: unknown) => `unknown (${String(e)})`),
    redis: await redisVersion().catch((e: unknown) => `unknown (${String(e)})`),
    load: loadAverage(),
  };
}

export function loadAverage(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(' / ');
}

async function postgresVersion(): Promise<string> {
  const client = new pg.Client({ connectionString: urlFor('postgres') });
  await client.connect();
  try {
    const result = await client.query<{ version: string }>('SELECT version()');
    return result.rows[0]?.version.split(' on ')[0] ?? 'unknown';
  } finally {
    await client.end();
  }
}

async function redisVersion(): Promise<string> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000 });
  try {
    await redis.connect();
    const info = await redis.info('server');
    return `Redis ${/redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown'}`;
  } finally {
    redis.disconnect();
  }
}
