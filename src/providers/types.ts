// The one small interface every cloud sits behind (docs/architecture.md §12). Every call names the
// provider's resource id explicitly; our machine id and name travel separately (rule 8).
import type { ProviderName } from '../db/states.js';

/** Power state as the provider reports it, normalized across clouds. */
export type InstanceState = 'pending' | 'running' | 'stopping' | 'stopped' | 'terminating' | 'terminated';

export interface Instance {
  providerId: string;
  state: InstanceState;
  ip: string | null;
  /** Our machine id, where the provider carries it (a tag); null for instances we cannot attribute. */
  machineId: string | null;
  /** The launch that created the instance, where one request created several: rows of that launch may still claim it. */
  launchId?: string | null;
  launchedAt: Date | null;
}

export interface CreateRequest {
  /** Our machine id: the idempotency token of the create. */
  machineId: string;
  /** The stable name tagged on the resource. */
  name: string;
  /** Extra tags from the pool; the adapter adds its own sandfleet:* tags. */
  tags?: Record<string, string>;
  /** What the instance reads at boot (EC2 UserData; the sim keeps it beside the instance): an agent's credential. */
  userData?: string;
  /** The launch the machine was reserved in; adapters that can create it whole do so in one request. */
  launch?: Launch;
}

/**
 * Machines reserved together. One request creates all `size` instances, idempotent on `id`,
 * and the instance the cloud numbers `index` in it is this machine's, however often the
 * request is repeated (after a crash, a lost response) and by whichever member.
 */
export interface Launch {
  id: string;
  index: number;
  size: number;
}

export interface LookupOptions {
  /**
   * When our row for this instance was created. Clouds are eventually consistent: an instance
   * younger than the adapter's grace window that is not found yet is reported Transient, not gone.
   */
  createdAt?: Date;
}

export interface ProviderCapabilities {
  reimage: boolean;
  /** Each instance can be given its own user data at create (uniform scale sets cannot). */
  perInstanceUserData: boolean;
  stopWithoutDelete: boolean;
  spot: boolean;
}

export interface Provider {
  readonly kind: ProviderName;
  readonly capabilities: ProviderCapabilities;
  /**
   * Idempotent on machineId (on the launch and index, when it names a launch): repeating it (after
   * a crash, a timeout) yields the same instance. A launch the cloud filled only in part answers
   * `capacity` for the members it has no instance for.
   */
  create(request: CreateRequest): Promise<Instance>;
  /** Throws ProviderError `not_found` when the instance does not exist (or is long terminated). */
  get(providerId: string, options?: LookupOptions): Promise<Instance>;
  /** Every instance of this pool tagged with the cluster, terminated ones included while visible. */
  list(): Promise<Instance[]>;
  stop(providerId: string, options?: LookupOptions): Promise<void>;
  /** Resolves once deletion is accepted or the instance is already gone (NotFound means done). */
  delete(providerId: string, options?: LookupOptions): Promise<void>;
  reimage?(providerId: string): Promise<void>;
}

/**
 * sandfleet's side of the cloud's meter: called before each request is sent, with the cloud's
 * name for the bucket the request spends from (EC2's API name, ARM's reads / writes / deletes)
 * and how many tokens (one per request; a resource bucket one per instance);
 * takes a token of the account's shared budget or throws a `throttled` ProviderError with the
 * wait, and the request is not sent.
 */
export type CallMeter = (bucket: string, tokens?: number) => Promise<void>;

/**
 * What the database knows about which instances rows hold. Providers that cannot tag an
 * instance with our machine id at creation (Azure uniform scale sets) use it to hand each
 * machine its own instance and to adopt, after a crash, the instance a create already made.
 */
export interface AdoptionLedger {
  /** The provider id a machine's row already holds, if any. */
  providerIdOf(machineId: string): Promise<string | null>;
  /** Provider ids held by rows of this pool: instances nobody may adopt again. */
  adopted(): Promise<ReadonlySet<string>>;
}

export const TAG = {
  cluster: 'sandfleet:cluster',
  pool: 'sandfleet:pool',
  machine: 'sandfleet:machine',
  launch: 'sandfleet:launch',
  name: 'Name',
} as const;
