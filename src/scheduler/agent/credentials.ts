// Machine credentials for agents: `sfm_<machine id>.<HMAC of the id>`, signed with the
// cluster's agent key (stored once in the database). Derivable again after a crash between the
// cloud create and its record, so nothing per machine is stored; whether the machine still
// lives is the table's answer, asked on every use.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Executor } from '../../db/database.js';
import { agentSigningKey } from '../../machinery/index.js';

const PREFIX = 'sfm_';
const SHAPE = /^sfm_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([A-Za-z0-9_-]{43})$/;

export class MachineCredentials {
  private key: Promise<string> | undefined;

  constructor(private readonly db: Executor) {}

  /** The credential an agent on this machine presents. */
  async issue(machineId: string): Promise<string> {
    return `${PREFIX}${machineId}.${sign(await this.signingKey(), machineId)}`;
  }

  /** The machine a credential names, or null when it is malformed or its signature is wrong. */
  async verify(credential: string): Promise<string | null> {
    const match = SHAPE.exec(credential);
    if (!match) return null;
    const [, machineId = '', signature = ''] = match;
    const expected = Buffer.from(sign(await this.signingKey(), machineId));
    const given = Buffer.from(signature);
    return given.length === expected.length && timingSafeEqual(given, expected) ? machineId : null;
  }

  private signingKey(): Promise<string> {
    this.key ??= agentSigningKey(this.db).catch((error: unknown) => {
      this.key = undefined;
      throw error;
    });
    return this.key;
  }
}

function sign(key: string, machineId: string): string {
  return createHmac('sha256', key).update(`machine:${machineId}`).digest('base64url');
}

/** What an agent pool's instance is handed at create: shell-sourceable, so a `curl` agent can read it. */
export function agentUserData(apiUrl: string, machineId: string, credential: string): string {
  return `SANDFLEET_URL=${apiUrl}\nSANDFLEET_MACHINE_ID=${machineId}\nSANDFLEET_MACHINE_TOKEN=${credential}\n`;
}
