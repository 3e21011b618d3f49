// Creating instances: RunInstances on the first offering (subnet × spot/on-demand) with capacity,
// an offering that lacked it tried last for a while, always idempotent on a client token. A launch
// (machines reserved together) is one RunInstances whose instances are mapped to its members by
// AmiLaunchIndex; a request repeated after a crash or a lost answer adopts what the first launched.
import { DescribeInstancesCommand, RunInstancesCommand, type EC2Client, type Instance as Ec2Instance, type RunInstancesCommandInput, type _InstanceType } from '@aws-sdk/client-ec2';
import { capacity, malformed, transient } from '../errors.js';
import { Launches, type LaunchResult } from '../launches.js';
import { TAG, type CreateRequest, type Instance, type Launch } from '../types.js';
import type { LaunchLedger } from '../visibility.js';
import { callEc2 } from './ec2-client.js';
import { classifyEc2Error, ec2ErrorCode } from './errors.js';
import { toInstance } from './instances.js';
import type { AwsSettings } from './settings.js';

/** One way to launch: market and subnet. Capacity errors move on to the next offering. */
interface Offering {
  spot: boolean;
  subnetId: string | undefined;
}

/** After a capacity error, an offering is tried last for this long. */
const OFFERING_COOLDOWN_MS = 5 * 60_000;

export class Ec2Launcher {
  private readonly cooling = new Map<string, number>();
  private readonly launches = new Launches();

  constructor(
    private readonly client: EC2Client,
    private readonly settings: AwsSettings,
    private readonly owner: { cluster: string; pool: string },
    private readonly ledger: LaunchLedger,
  ) {}

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
    throw capacity(`no capacity for pool ${this.owner.pool} in any subnet or market`, { operation: 'RunInstances', cause: lastCapacityError });
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
    const own: Record<string, string> = launch
      ? { [TAG.launch]: launch.id, [TAG.name]: `sf-${this.owner.pool}` }
      : { [TAG.machine]: request.machineId, [TAG.name]: request.name };
    const tags = { ...request.tags, [TAG.cluster]: this.owner.cluster, [TAG.pool]: this.owner.pool, ...own };
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
    const out = await callEc2('DescribeInstances', () =>
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
}

function offeringKey(o: Offering): string {
  return `${o.spot ? 'spot' : 'on-demand'}:${o.subnetId ?? 'default'}`;
}
