// The aws adapter: one pool's instances on EC2 through @aws-sdk/client-ec2. Credentials come
// only from the SDK's default chain (environment, shared config, instance/task roles). This is
// the Provider facade: creates go to the launcher (launcher.ts); gets, stops and deletes of a
// batch window share one call each (batched-calls.ts); the launch ledger tells a fresh instance
// not visible yet from one that is gone.
import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { BATCH_WINDOW_MS, Batcher } from '../batcher.js';
import { malformed } from '../errors.js';
import { invalidSettings } from '../settings-error.js';
import { LaunchLedger } from '../visibility.js';
import { TAG, type CallMeter, type CreateRequest, type Instance, type LookupOptions, type Provider } from '../types.js';
import { changeBatch, describeBatch, type Describe } from './batched-calls.js';
import { callEc2, ec2Client } from './ec2-client.js';
import { toInstance } from './instances.js';
import { Ec2Launcher } from './launcher.js';
import { awsSettingsSchema, type AwsSettings } from './settings.js';

export interface Ec2ProviderOptions {
  cluster: string;
  pool: string;
  settings: unknown;
  /** Takes a token of the account's request bucket before each API call is sent. */
  meter?: CallMeter;
}

const NOT_FOUND_CODE = 'InvalidInstanceID.NotFound';
/** EC2 accepts up to 1000 ids per Describe/Stop/Terminate call. */
const MAX_IDS_PER_CALL = 500;
const BATCH = { maxBatch: MAX_IDS_PER_CALL, windowMs: BATCH_WINDOW_MS };

export class Ec2Provider implements Provider {
  readonly kind = 'aws';
  readonly capabilities = { reimage: false, stopWithoutDelete: true, spot: true, perInstanceUserData: true };
  private readonly settings: AwsSettings;
  private readonly client: EC2Client;
  private readonly ledger: LaunchLedger;
  private readonly launcher: Ec2Launcher;
  private readonly describer = new Batcher<string, Instance | null>((ids) => describeBatch(this.client, ids), BATCH);
  private readonly describe: Describe = (id) => this.describer.call(id);
  private readonly stopper = new Batcher<string, 'done' | 'missing'>((ids) => changeBatch(this.client, this.describe, 'stop', ids), BATCH);
  private readonly terminator = new Batcher<string, 'done' | 'missing'>((ids) => changeBatch(this.client, this.describe, 'terminate', ids), BATCH);

  constructor(private readonly options: Ec2ProviderOptions) {
    const parsed = awsSettingsSchema.safeParse(options.settings);
    if (!parsed.success) throw invalidSettings(options.pool, parsed.error.issues);
    this.settings = parsed.data;
    this.ledger = new LaunchLedger(this.settings.notFoundGraceS * 1000);
    this.client = ec2Client(this.settings, options.meter);
    this.launcher = new Ec2Launcher(this.client, this.settings, { cluster: options.cluster, pool: options.pool }, this.ledger);
  }

  create(request: CreateRequest): Promise<Instance> {
    return this.launcher.create(request);
  }

  async get(providerId: string, options: LookupOptions = {}): Promise<Instance> {
    const found = await this.describer.call(providerId);
    if (found) {
      this.ledger.recordSeen(providerId);
      return found;
    }
    throw this.ledger.missing(providerId, options, 'DescribeInstances', NOT_FOUND_CODE);
  }

  async list(): Promise<Instance[]> {
    const out: Instance[] = [];
    const tokens = new Set<string>();
    let token: string | undefined;
    do {
      const page = await callEc2('DescribeInstances', () =>
        this.client.send(
          new DescribeInstancesCommand({
            Filters: [
              { Name: `tag:${TAG.cluster}`, Values: [this.options.cluster] },
              { Name: `tag:${TAG.pool}`, Values: [this.options.pool] },
            ],
            MaxResults: this.settings.listPageSize,
            NextToken: token,
          }),
        ),
      );
      for (const r of page.Reservations ?? []) for (const i of r.Instances ?? []) out.push(toInstance(i));
      token = page.NextToken;
      // A token seen before would page forever.
      if (token !== undefined && tokens.has(token)) throw malformed(`ec2 DescribeInstances answered page token ${token} a second time`, { operation: 'DescribeInstances' });
      if (token !== undefined) tokens.add(token);
    } while (token);
    return out;
  }

  async stop(providerId: string, options: LookupOptions = {}): Promise<void> {
    if ((await this.stopper.call(providerId)) === 'missing') throw this.ledger.missing(providerId, options, 'StopInstances', NOT_FOUND_CODE);
  }

  async delete(providerId: string, options: LookupOptions = {}): Promise<void> {
    const outcome = await this.terminator.call(providerId);
    if (outcome === 'done') this.ledger.recordDeleted(providerId);
    if (outcome === 'missing') {
      const gone = this.ledger.missing(providerId, options, 'TerminateInstances', NOT_FOUND_CODE);
      // NotFound is what "deleted" looks like once the instance has aged out of view.
      if (gone.kind === 'not_found') return;
      throw gone;
    }
  }
}
