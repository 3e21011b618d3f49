// The aws adapter: one pool's instances on EC2 through @aws-sdk/client-ec2. Credentials come
// only from the SDK's default chain (environment, shared config, instance/task roles).
import {
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type Instance as Ec2Instance,
  type RunInstancesCommandInput,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import { BATCH_WINDOW_MS, Batcher, type BatchResult } from '../batcher.js';
import { ec2Charges } from '../cloud-budgets.js';
import { capacity, malformed, transient } from '../errors.js';
import { invalidSettings } from '../settings-error.js';
import { LaunchLedger } from '../visibility.js';
import { Launches, type LaunchResult } from '../launches.js';
import { TAG, type CallMeter, type CreateRequest, type Instance, type InstanceState, type Launch, type LookupOptions, type Provider } from '../types.js';
import { classifyEc2Error, ec2ErrorCode, idsNamedIn } from './errors.js';
import { awsSettingsSchema, type AwsSettings } from './settings.js';

export interface Ec2ProviderOptions {
  cluster: string;
  pool: string;
  settings: unknown;
  /** Takes a token of the account's request bucket before each API call is sent. */
  meter?: CallMeter;
}

/** One way to launch: market and subnet. Capacity errors move on to the next offering. */
interface Offering {
  spot: boolean;
  subnetId: string | undefined;
}

const NOT_FOUND_CODE = 'InvalidInstanceID.NotFound';
/** EC2 accepts up to 1000 ids per Describe/Stop/Terminate call. */
const MAX_IDS_PER_CALL = 500;
const BATCH = { maxBatch: MAX_IDS_PER_CALL, windowMs: BATCH_WINDOW_MS };
const CONNECT_TIMEOUT_MS = 5_000;
/** After a capacity error, an offering is tried last for this long. */
const OFFERING_COOLDOWN_MS = 5 * 60_000;

export class Ec2Provider implements Provider {
  readonly kind = 'aws';
  readonly capabilities = { reimage: false, stopWithoutDelete: true, spot: true, perInstanceUserData: true };
  private readonly settings: AwsSettings;
  private readonly client: EC2Client;
  private readonly cooling = new Map<string, number>();
  private readonly ledger: LaunchLedger;
  private readonly launches = new Launches();
  private readonly describer = new Batcher<string, Instance | null>((ids) => this.describeBatch(ids), BATCH);
  private readonly stopper = new Batcher<string, 'done' | 'missing'>((ids) => this.changeBatch('stop', ids), BATCH);
  private readonly terminator = new Batcher<string, 'done' | 'missing'>((ids) => this.changeBatch('terminate', ids), BATCH);

  constructor(private readonly options: Ec2ProviderOptions) {
    const parsed = awsSettingsSchema.safeParse(options.settings);
    if (!parsed.success) throw invalidSettings(options.pool, parsed.error.issues);
    this.settings = parsed.data;
    this.ledger = new LaunchLedger(this.settings.notFoundGraceS * 1000);
    this.client = new EC2Client({
      region: this.settings.region,
      ...(this.settings.endpoint ? { endpoint: this.settings.endpoint } : {}),
      maxAttempts: this.settings.maxAttempts,
      // A connection or an answer that never comes ends the attempt (by default the SDK only warns).
      requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: this.settings.requestTimeoutS * 1000, throwOnRequestTimeout: true },
    });
    if (options.meter) meterCalls(this.client, options.meter);
  }

  async create(request: CreateRequest): Promise<Instance> {
    const launch = request.launch;
    // Each instance of a launch boots with the same user data: a machine with its own is launched alone.
    if (launch && request.userData === undefined) {
      return this.launches.instanceFor(request.machineId, launch, () => this.launchWhole(request, launch));
    }
    const [instance] = await this.run(request.machineId, (offering) => this.runInput(request, offering), 1);
    if (!instance?.InstanceId) throw transient('ec2 RunInstances returned no instance', { operation: 'RunInstances' });
    return toInstance(instance);
  }

  /** One RunInstances for every member of the launch; EC2 numbers its instances by AmiLaunchIndex. */
  private async launchWhole(request: CreateRequest, launch: Launch): Promise<LaunchResult> {
    const instances = await this.run(launch.id, (offering) => this.runInput(request, offering, launch), launch.size);
    const byIndex = new Map<number, Instance>();
    for (const i of instances) {
      if (i.AmiLaunchIndex === undefined || i.AmiLaunchIndex < 0 || i.AmiLaunchIndex >= launch.size) {
        throw malformed(`ec2 answered instance ${i.InstanceId ?? '(no id)'} of launch ${launch.id} with launch index ${String(i.AmiLaunchIndex)}`, { operation: 'RunInstances' });
      }
      byIndex.set(i.AmiLaunchIndex, toInstance(i));
    }
    return byIndex;
  }

  /**
   * RunInstances on the first offering with capacity, idempotent on `token`: answers the
   * instances it launched, or those an earlier request with the token launched.
   */
  private async run(token: string, input: (offering: Offering) => RunInstancesCommandInput, expected: number): Promise<Ec2Instance[]> {
    let lastCapacityError: unknown;
    for (const offering of this.offerings()) {
      try {
        const out = await this.client.send(new RunInstancesCommand(input(offering)));
        const instances = out.Instances ?? [];
        for (const i of instances) if (i.InstanceId) this.ledger.record(i.InstanceId);
        return instances;
      } catch (error) {
        // The token is bound only to a launch that succeeded: a mismatch means an earlier
        // request with it (another offering, before a crash) already launched.
        if (ec2ErrorCode(error) === 'IdempotentParameterMismatch') return this.adopt(token, expected);
        const classified = classifyEc2Error(error, 'RunInstances');
        if (classified.kind !== 'capacity') throw classified;
        this.cooling.set(offeringKey(offering), Date.now() + OFFERING_COOLDOWN_MS);
        lastCapacityError = classified;
      }
    }
    throw capacity(`no capacity for pool ${this.options.pool} in any subnet or market`, { operation: 'RunInstances', cause: lastCapacityError });
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
      const page = await this.call('DescribeInstances', () =>
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

  private offerings(): Offering[] {
    const subnets = this.settings.subnetIds.length ? this.settings.subnetIds : [undefined];
    const spot = this.settings.spot;
    const all: Offering[] = [
      ...(spot ? subnets.map((subnetId) => ({ spot: true, subnetId })) : []),
      ...(!spot || spot.fallbackToOnDemand ? subnets.map((subnetId) => ({ spot: false, subnetId })) : []),
    ];
    // Offerings that lacked capacity recently go last, in their original order.
    const now = Date.now();
    const cool = (o: Offering) => ((this.cooling.get(offeringKey(o)) ?? 0) > now ? 1 : 0);
    return all.map((o, i) => ({ o, i })).sort((a, b) => cool(a.o) - cool(b.o) || a.i - b.i).map((x) => x.o);
  }

  /** One machine's instance, or with `launch` all of the launch's (tagged with the launch, not a machine). */
  private runInput(request: CreateRequest, offering: Offering, launch?: Launch): RunInstancesCommandInput {
    const s = this.settings;
    const own = launch
      ? { [TAG.launch]: launch.id, [TAG.name]: `sf-${this.options.pool}` }
      : { [TAG.machine]: request.machineId, [TAG.name]: request.name };
    const tags = { ...request.tags, [TAG.cluster]: this.options.cluster, [TAG.pool]: this.options.pool, ...own };
    return {
      MinCount: 1,
      MaxCount: launch?.size ?? 1,
      ClientToken: launch?.id ?? request.machineId,
      ...(s.launchTemplate
        ? { LaunchTemplate: { LaunchTemplateId: s.launchTemplate.id, LaunchTemplateName: s.launchTemplate.name, Version: s.launchTemplate.version } }
        : {}),
      ...(s.imageId ? { ImageId: s.imageId } : {}),
      ...(s.instanceType ? { InstanceType: s.instanceType as _InstanceType } : {}),
      ...(offering.subnetId ? { SubnetId: offering.subnetId } : {}),
      ...(s.securityGroupIds.length ? { SecurityGroupIds: s.securityGroupIds } : {}),
      ...(request.userData === undefined ? {} : { UserData: Buffer.from(request.userData).toString('base64') }),
      ...(offering.spot
        ? { InstanceMarketOptions: { MarketType: 'spot', SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate', MaxPrice: s.spot?.maxPrice } } }
        : {}),
      TagSpecifications: [{ ResourceType: 'instance', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }],
    };
  }

  /**
   * Finds what an earlier request with this client token launched. Fewer than `expected` seen:
   * the rest may not be visible yet, unless those seen are older than the not-found grace (then
   * the launch was filled in part, and the rest never will be).
   */
  private async adopt(token: string, expected: number): Promise<Ec2Instance[]> {
    const out = await this.call('DescribeInstances', () =>
      this.client.send(new DescribeInstancesCommand({ Filters: [{ Name: 'client-token', Values: [token] }] })),
    );
    const instances = (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
    const settled = instances.some((i) => i.LaunchTime && Date.now() - i.LaunchTime.getTime() > this.settings.notFoundGraceS * 1000);
    if (instances.length < expected && !settled) {
      throw transient(`request ${token} launched instances that are not all visible yet`, { operation: 'DescribeInstances' });
    }
    for (const i of instances) if (i.InstanceId) this.ledger.recordSeen(i.InstanceId);
    return instances;
  }

  private async describeBatch(ids: string[]): Promise<Map<string, BatchResult<Instance | null>>> {
    const results = new Map<string, BatchResult<Instance | null>>();
    let remaining = ids;
    // A Describe naming one unknown id fails whole; drop the ids it names and ask again.
    while (remaining.length) {
      try {
        const out = await this.client.send(new DescribeInstancesCommand({ InstanceIds: remaining }));
        // Every instance is checked: one without its id must not make the others look gone.
        for (const instance of (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).map(toInstance)) {
          results.set(instance.providerId, { ok: true, value: instance });
        }
        for (const id of remaining) if (!results.has(id)) results.set(id, { ok: true, value: null });
        remaining = [];
      } catch (error) {
        remaining = this.dropMissing(error, remaining, results, null, 'DescribeInstances');
      }
    }
    return results;
  }

  private async changeBatch(how: 'stop' | 'terminate', ids: string[]): Promise<Map<string, BatchResult<'done' | 'missing'>>> {
    const operation = how === 'stop' ? 'StopInstances' : 'TerminateInstances';
    const results = new Map<string, BatchResult<'done' | 'missing'>>();
    let remaining = ids;
    while (remaining.length) {
      try {
        if (how === 'stop') await this.client.send(new StopInstancesCommand({ InstanceIds: remaining }));
        else await this.client.send(new TerminateInstancesCommand({ InstanceIds: remaining }));
        for (const id of remaining) results.set(id, { ok: true, value: 'done' });
        remaining = [];
      } catch (error) {
        // A terminated (or terminating) instance counts as stopped: stop only ever powers off.
        if (how === 'stop' && ec2ErrorCode(error) === 'IncorrectInstanceState') {
          remaining = await this.settleIncorrectState(remaining, results);
          continue;
        }
        remaining = this.dropMissing(error, remaining, results, 'missing', operation);
      }
    }
    return results;
  }

  /** Stop refused: anything already shutting down or terminated is done; the rest is asked again alone. */
  private async settleIncorrectState(ids: string[], results: Map<string, BatchResult<'done' | 'missing'>>): Promise<string[]> {
    for (const id of ids) {
      try {
        const i = await this.describer.call(id);
        if (!i) results.set(id, { ok: true, value: 'missing' });
        else if (i.state === 'terminated' || i.state === 'terminating' || i.state === 'stopped') results.set(id, { ok: true, value: 'done' });
        else {
          await this.client.send(new StopInstancesCommand({ InstanceIds: [id] }));
          results.set(id, { ok: true, value: 'done' });
        }
      } catch (error) {
        results.set(id, { ok: false, error: classifyEc2Error(error, 'StopInstances') });
      }
    }
    return [];
  }

  /** Records the ids a NotFound error names as missing and returns the rest; any other error fails the batch. */
  private dropMissing<R>(error: unknown, ids: string[], results: Map<string, BatchResult<R>>, missing: R, operation: string): string[] {
    const classified = classifyEc2Error(error, operation);
    const named = classified.kind === 'not_found' ? idsNamedIn(error).filter((id) => ids.includes(id)) : [];
    if (!named.length) {
      for (const id of ids) results.set(id, { ok: false, error: classified });
      return [];
    }
    for (const id of named) results.set(id, { ok: true, value: missing });
    return ids.filter((id) => !named.includes(id));
  }

  private async call<T>(operation: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw classifyEc2Error(error, operation);
    }
  }
}

/** Every command sent, before the SDK's own retries, first takes a token of its API's request bucket and one per instance of its resource bucket. */
function meterCalls(client: EC2Client, meter: CallMeter): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { Filters?: unknown[]; MaxResults?: number; MaxCount?: number; InstanceIds?: unknown[] };
      const action = (context.commandName ?? '').replace(/Command$/, '');
      const instances = action === 'RunInstances' ? (input.MaxCount ?? 1) : (input.InstanceIds?.length ?? 1);
      // The request bucket first: a request refused there has taken no instances' tokens.
      for (const [bucket, tokens] of ec2Charges(action, { filteredOrPaged: Boolean(input.Filters?.length) || input.MaxResults !== undefined, instances })) {
        await meter(bucket, tokens);
      }
      return next(args);
    },
    { step: 'initialize', name: 'sandfleetCallMeter' },
  );
}

function offeringKey(o: Offering): string {
  return `${o.spot ? 'spot' : 'on-demand'}:${o.subnetId ?? 'default'}`;
}

const EC2_STATES: Record<string, InstanceState> = {
  pending: 'pending',
  running: 'running',
  stopping: 'stopping',
  stopped: 'stopped',
  'shutting-down': 'terminating',
  terminated: 'terminated',
};

/** An instance as EC2 described it; an answer without its id or in a state EC2 does not document is refused. */
function toInstance(i: Ec2Instance): Instance {
  const tags = new Map((i.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
  if (!i.InstanceId) throw malformed('ec2 answered an instance without an InstanceId', { operation: 'DescribeInstances' });
  const state = EC2_STATES[i.State?.Name ?? ''];
  if (!state) throw malformed(`ec2 answered instance ${i.InstanceId} in state "${i.State?.Name ?? '(none)'}", which EC2 does not have`, { operation: 'DescribeInstances' });
  return {
    providerId: i.InstanceId,
    state,
    ip: i.PrivateIpAddress ?? null,
    machineId: tags.get(TAG.machine) ?? null,
    launchId: tags.get(TAG.launch) ?? null,
    launchedAt: i.LaunchTime ?? null,
  };
}
