// One provider adapter per pool, built from the pool's row. The database is the adoption ledger
// for providers that cannot tag instances with our machine id (Azure scale sets).
import type { TokenCredential } from '@azure/core-auth';
import type { TlsSettings } from '@azure/core-rest-pipeline';
import type { Db } from '../db/database.js';
import type { PoolRow } from '../db/schema.js';
import { heldProviderIds, providerIdOf, type RateLimit } from '../machinery/index.js';
import type { ProviderName } from '../db/states.js';
import { Ec2Provider } from '../providers/aws/ec2-provider.js';
import { VmssProvider } from '../providers/azure/vmss-provider.js';
import { SimProvider } from '../providers/sim/sim-provider.js';
import type { AdoptionLedger, Provider } from '../providers/types.js';
import { withDeadline } from './call-deadline.js';
import { accountMeter } from './call-meter.js';
import { instrument, type CloudCallObserver } from './instrumented-provider.js';

export interface ProviderOptions {
  db: Db;
  cluster: string;
  /** Tests and emulators only; production uses DefaultAzureCredential and public CAs. */
  azure?: { credential?: TokenCredential; tlsOptions?: TlsSettings };
  /** Sees every cloud call (metrics). */
  observeCalls?: CloudCallObserver;
  /** sandfleet's request budget per provider kind and bucket (default: none, for tools that call once). */
  rateLimits?: Readonly<Partial<Record<ProviderName, Readonly<Record<string, RateLimit>>>>>;
  /** Every call of every adapter ends within this (default: no bound, for tools that call once). */
  callTimeoutMs?: number;
  /** Hears of each call that did not answer within callTimeoutMs. */
  onTimeout?: (pool: string, operation: string) => void;
}

export class ProviderRegistry {
  private readonly built = new Map<string, { settings: string; provider: Provider }>();

  constructor(private readonly options: ProviderOptions) {}

  /** The pool's adapter; rebuilt when the pool's provider or settings change. */
  for(pool: PoolRow): Provider {
    const fingerprint = JSON.stringify([pool.provider, pool.settings]);
    const cached = this.built.get(pool.name);
    if (cached?.settings === fingerprint) return cached.provider;
    const { observeCalls, callTimeoutMs, onTimeout } = this.options;
    const built = this.build(pool);
    const bounded = callTimeoutMs ? withDeadline(built, callTimeoutMs, (operation) => onTimeout?.(pool.name, operation)) : built;
    const provider = observeCalls ? instrument(bounded, pool.name, observeCalls) : bounded;
    this.built.set(pool.name, { settings: fingerprint, provider });
    return provider;
  }

  /**
   * The account a pool's cloud calls are charged to, which is what cloud rate limits count:
   * EC2 per region (and endpoint), Azure per subscription, the sim cloud as one.
   */
  accountOf(pool: PoolRow): string {
    const s = pool.settings;
    const text = (key: string) => (typeof s[key] === 'string' ? s[key] : '');
    switch (pool.provider) {
      case 'aws':
        return `aws:${text('region')}:${text('endpoint')}`;
      case 'azure':
        return `azure:${text('subscriptionId')}:${text('endpoint')}`;
      default:
        return pool.provider;
    }
  }

  private build(pool: PoolRow): Provider {
    const { db, cluster, rateLimits } = this.options;
    const meter = accountMeter(db, this.accountOf(pool), rateLimits?.[pool.provider as ProviderName] ?? {});
    const base = { cluster, pool: pool.name, settings: pool.settings, ...(meter ? { meter } : {}) };
    switch (pool.provider) {
      case 'sim':
        return new SimProvider({ ...base, db });
      case 'aws':
        return new Ec2Provider(base);
      case 'azure':
        return new VmssProvider({ ...base, adoption: databaseLedger(db, pool.name), ...this.options.azure });
      default:
        throw new Error(`pool ${pool.name} has unknown provider ${pool.provider}`);
    }
  }
}

/** Which instances rows hold, read from the machines table. */
export function databaseLedger(db: Db, pool: string): AdoptionLedger {
  return { providerIdOf: (machineId) => providerIdOf(db, machineId), adopted: () => heldProviderIds(db, pool) };
}
