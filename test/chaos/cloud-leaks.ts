// Leaks as the ARM emulator itself sees them, not through sandfleet's adapter: a VM of the
// scenario's resource group, past the orphan grace, that no machine row holds. The I5 check
// lists instances through the adapter; this one would still see a VM the adapter failed to list.
import { sql } from 'drizzle-orm';
import type { Database } from '../../src/db/index.js';
import type { ArmEmulator } from '../emulators/arm/server.js';

export async function azureLeaks(arm: ArmEmulator, database: Database, resourceGroup: string, graceMs: number): Promise<string[]> {
  const rows = await database.db.execute(sql`SELECT provider_id FROM machines WHERE provider_id IS NOT NULL`);
  // ARM resource ids are case-insensitive.
  const held = new Set(rows.rows.map((r) => String(r.provider_id).toLowerCase()));
  const old = Date.now() - graceMs;
  return arm
    .liveInstances()
    .filter((vm) => vm.resourceGroup.toLowerCase() === resourceGroup.toLowerCase() && vm.createdAt.getTime() < old && !held.has(vm.id.toLowerCase()))
    .map((vm) => `${vm.id} (${vm.power})`);
}
