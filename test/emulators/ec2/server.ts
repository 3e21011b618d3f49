// A local emulator of the EC2 query API, as much of it as sandfleet's aws adapter uses:
// RunInstances, DescribeInstances, StopInstances, TerminateInstances. Real @aws-sdk/client-ec2
// clients talk to it over HTTP. It keeps instance timing (pending → running, stopping → stopped,
// shutting-down → terminated, terminated visible for a while), ClientToken idempotency, tags,
// filters and pagination; it spends from EC2's documented per-account API budget (request and
// resource token buckets) and answers RequestLimitExceeded when a bucket is empty, and injects
// seeded faults: throttling, 5xx, capacity errors and an eventual-consistency window in which a
// fresh instance is invisible.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Budget, type BucketLimit } from '../../../src/providers/budget.js';
import { EC2_BUDGET, ec2Charges, type Ec2BudgetName } from '../../../src/providers/cloud-budgets.js';
import { prng } from '../../support/actors.js';

export interface Ec2Faults {
  /** Fraction of calls answered RequestLimitExceeded (503). */
  throttleRate?: number;
  /** Fraction of calls answered Unavailable (503, before acting) or InternalError (500, after acting). */
  serverErrorRate?: number;
  /** Fraction of RunInstances answered with a capacity error. */
  capacityRate?: number;
  /** Capacity error code to answer with; rotates through EC2's codes when not set. */
  capacityCode?: string;
  /** Subnets (or `spot`) that have no capacity at all. */
  exhausted?: string[];
  /** A launched instance stays invisible to Describe/Stop/Terminate for this long. */
  consistencyWindowMs?: number;
  /** Every call fails authentication. */
  authFailure?: boolean;
  /** Instances the account may have alive at once (a quota): a launch gets what is left of it, at least its MinCount or a capacity error. */
  maxInstances?: number;
  /** The next this many RunInstances act and then answer 500: the response is lost. */
  loseRunResponses?: number;
  /** Describe answers that break EC2's contract: a state EC2 does not have, an instance without its id, a page token that never ends. */
  malformed?: 'unknown-state' | 'missing-id' | 'endless-pages';
}

export interface Ec2EmulatorOptions {
  bootDelayMs?: number;
  stopDelayMs?: number;
  terminateDelayMs?: number;
  /** How long a terminated instance remains visible to Describe. */
  terminatedVisibleMs?: number;
  seed?: number;
  faults?: Ec2Faults;
  /** The account's API budget: EC2's documented defaults, with these buckets overridden; `unlimited` spends nothing. */
  budget?: Partial<Record<Ec2BudgetName, BucketLimit>> | 'unlimited';
}

interface EmulatedInstance {
  id: string;
  imageId: string;
  instanceType: string;
  subnetId: string | null;
  clientToken: string;
  /** Its place in the RunInstances that launched it (EC2's AmiLaunchIndex). */
  launchIndex: number;
  reservationId: string;
  lifecycle: 'spot' | 'on-demand';
  ip: string;
  tags: Map<string, string>;
  launchedAt: number;
  /** The last requested state and when; the visible state is derived from the clock. */
  phase: 'launched' | 'stopping' | 'terminating';
  phaseAt: number;
}

export interface RecordedCall {
  action: string;
  params: Record<string, string>;
  status: number;
  /** Answered RequestLimitExceeded. */
  throttled: boolean;
}

const CAPACITY_CODES = ['InsufficientInstanceCapacity', 'SpotMaxPriceTooLow', 'MaxSpotInstanceCountExceeded', 'InsufficientFreeAddressesInSubnet'];
const STATE_CODES: Record<string, number> = { pending: 0, running: 16, 'shutting-down': 32, terminated: 48, stopping: 64, stopped: 80 };
const NS = 'http://ec2.amazonaws.com/doc/2016-11-15/';

export class Ec2Emulator {
  readonly calls: RecordedCall[] = [];
  faults: Ec2Faults;
  /** The account's API budget; `resize` squeezes or restores it while the emulator runs. */
  readonly budget: Budget<Ec2BudgetName> | null;
  private readonly instances = new Map<string, EmulatedInstance>();
  /** The tags of every instance launched, kept after it is purged. */
  private readonly launched: ReadonlyMap<string, string>[] = [];
  private readonly tokens = new Map<string, { paramsHash: string; instanceIds: string[] }>();
  private readonly server: http.Server;
  private random: () => number;
  private nextIp = 1;

  constructor(private readonly options: Ec2EmulatorOptions = {}) {
    this.faults = { ...options.faults };
    this.random = prng(options.seed ?? 1);
    this.budget = options.budget === 'unlimited' ? null : new Budget<Ec2BudgetName>({ ...EC2_BUDGET, ...options.budget });
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Instances that are not terminated, as the cloud itself sees them (no consistency lag). */
  liveInstances(): { id: string; state: string; tags: Record<string, string>; lifecycle: string; subnetId: string | null }[] {
    return [...this.instances.values()]
      .map((i) => ({ id: i.id, state: this.stateOf(i), tags: Object.fromEntries(i.tags), lifecycle: i.lifecycle, subnetId: i.subnetId }))
      .filter((i) => i.state !== 'terminated');
  }

  /** Instance death: up to `count` live instances terminate on their own, as EC2 reclaims them. */
  killInstances(count: number): string[] {
    const live = [...this.instances.values()].filter((i) => i.phase === 'launched').slice(0, count);
    for (const i of live) {
      i.phase = 'terminating';
      i.phaseAt = Date.now();
    }
    return live.map((i) => i.id);
  }

  /** Instances ever launched with this tag value (`sandfleet:pool`, say), terminated and purged ones included. */
  launchedWith(tag: string, value: string): number {
    return this.launched.filter((tags) => tags.get(tag) === value).length;
  }

  reseed(seed: number): void {
    this.random = prng(seed);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const params = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
    const action = params.Action ?? '';
    const reply = (status: number, body: string, throttled = false) => {
      this.calls.push({ action, params, status, throttled });
      res.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8', 'x-amzn-requestid': requestId() });
      res.end(body);
    };
    try {
      if (!req.headers.authorization?.startsWith('AWS4-HMAC-SHA256 Credential=')) throw new Ec2Fault(401, 'AuthFailure', 'Request is not signed.');
      this.spendBudget(action, params);
      const outcome = this.injectFaults(action);
      const body = this.dispatch(action, params);
      if (action === 'RunInstances' && (this.faults.loseRunResponses ?? 0) > 0) {
        this.faults.loseRunResponses = (this.faults.loseRunResponses ?? 0) - 1;
        throw new Ec2Fault(500, 'InternalError', 'An internal error has occurred.');
      }
      if (outcome === 'lose-response') throw new Ec2Fault(500, 'InternalError', 'An internal error has occurred.');
      reply(200, body);
    } catch (error) {
      if (error instanceof Ec2Fault) reply(error.status, errorXml(error.code, error.message), error.code === 'RequestLimitExceeded');
      else reply(500, errorXml('InternalError', error instanceof Error ? error.message : String(error)));
    }
  }

  /** Calls answered RequestLimitExceeded, by the budget or by injected throttling. */
  get throttledResponses(): number {
    return this.calls.filter((c) => c.status === 503 && c.throttled).length;
  }

  /** Charges the call to its API's request bucket and, per instance it acts on, its resource bucket. */
  private spendBudget(action: string, p: Record<string, string>): void {
    if (!this.budget) return;
    // A repeated RunInstances launches nothing, so it spends no instances.
    const launches = action === 'RunInstances' && !this.tokens.has(p.ClientToken ?? '') ? Number(p.MaxCount) || 1 : 0;
    const charges = ec2Charges(action, { filteredOrPaged: indexed(p, 'Filter').length > 0 || p.MaxResults !== undefined, instances: action === 'RunInstances' ? launches : indexed(p, 'InstanceId').length });
    if (!this.budget.spend(charges).ok) throw new Ec2Fault(503, 'RequestLimitExceeded', 'Request limit exceeded.');
  }

  private injectFaults(action: string): 'answer' | 'lose-response' {
    const f = this.faults;
    if (f.authFailure) throw new Ec2Fault(401, 'AuthFailure', 'AWS was not able to validate the provided access credentials');
    if (f.throttleRate && this.random() < f.throttleRate) throw new Ec2Fault(503, 'RequestLimitExceeded', 'Request limit exceeded.');
    if (action === 'RunInstances' && f.capacityRate && this.random() < f.capacityRate) {
      const code = f.capacityCode ?? CAPACITY_CODES[Math.floor(this.random() * CAPACITY_CODES.length)]!;
      throw new Ec2Fault(500, code, `We currently do not have sufficient capacity in the Availability Zone you requested (${code}).`);
    }
    // Half the server errors strike before the action, half after it ran (the response is
    // lost): the retry must then find what the first attempt did, not do it again.
    if (f.serverErrorRate && this.random() < f.serverErrorRate) {
      if (this.random() < 0.5) throw new Ec2Fault(503, 'Unavailable', 'The server is overloaded and cannot handle the request.');
      return 'lose-response';
    }
    return 'answer';
  }

  private dispatch(action: string, p: Record<string, string>): string {
    switch (action) {
      case 'RunInstances':
        return this.runInstances(p);
      case 'DescribeInstances':
        return this.describeInstances(p);
      case 'StopInstances':
        return this.changeState(p, 'stopping', 'StopInstancesResponse');
      case 'TerminateInstances':
        return this.changeState(p, 'terminating', 'TerminateInstancesResponse');
      default:
        throw new Ec2Fault(400, 'InvalidAction', `The action ${action} is not valid for this web service.`);
    }
  }

  private runInstances(p: Record<string, string>): string {
    const token = p.ClientToken;
    if (!token) throw new Ec2Fault(400, 'MissingParameter', 'sandfleet always sends a ClientToken; this request had none.');
    const min = Number(p.MinCount);
    const max = Number(p.MaxCount);
    if (!(Number.isInteger(min) && Number.isInteger(max) && min >= 1 && max >= min)) throw new Ec2Fault(400, 'InvalidParameterValue', 'MinCount and MaxCount must be integers with 1 <= MinCount <= MaxCount');
    const hash = paramsHash(p);
    const known = this.tokens.get(token);
    if (known) {
      if (known.paramsHash !== hash) {
        throw new Ec2Fault(400, 'IdempotentParameterMismatch', 'Arguments on this idempotent request are inconsistent with arguments used in previous request(s).');
      }
      return runXml(known.instanceIds.map((id) => this.instances.get(id)).filter((i) => i !== undefined), this);
    }
    const imageId = p.ImageId ?? (p['LaunchTemplate.LaunchTemplateId'] || p['LaunchTemplate.LaunchTemplateName'] ? 'ami-from-template' : undefined);
    if (!imageId) throw new Ec2Fault(400, 'MissingParameter', 'The request must contain the parameter ImageId or LaunchTemplate');
    const subnetId = p.SubnetId ?? null;
    const lifecycle = p['InstanceMarketOptions.MarketType'] === 'spot' ? 'spot' : 'on-demand';
    const exhausted = this.faults.exhausted ?? [];
    if ((subnetId && exhausted.includes(subnetId)) || (lifecycle === 'spot' && exhausted.includes('spot'))) {
      const code = lifecycle === 'spot' && exhausted.includes('spot') ? 'SpotMaxPriceTooLow' : 'InsufficientInstanceCapacity';
      throw new Ec2Fault(500, code, `No capacity for ${lifecycle} in ${subnetId ?? 'the default subnet'}.`);
    }
    const tags = new Map<string, string>();
    for (const spec of indexed(p, 'TagSpecification')) {
      if (p[`TagSpecification.${spec}.ResourceType`] !== 'instance') continue;
      for (const t of indexed(p, `TagSpecification.${spec}.Tag`)) {
        tags.set(p[`TagSpecification.${spec}.Tag.${t}.Key`]!, p[`TagSpecification.${spec}.Tag.${t}.Value`] ?? '');
      }
    }
    const room = (this.faults.maxInstances ?? Number.POSITIVE_INFINITY) - this.liveInstances().length;
    if (room < min) throw new Ec2Fault(500, 'InsufficientInstanceCapacity', `Only ${Math.max(0, room)} more instances can be launched; the request asked for at least ${min}.`);
    const now = Date.now();
    const reservationId = `r-${randomBytes(8).toString('hex').slice(0, 17)}`;
    const launched = Array.from({ length: Math.min(max, room) }, (_, launchIndex): EmulatedInstance => ({
      id: `i-${randomBytes(8).toString('hex').slice(0, 17)}`,
      imageId,
      instanceType: p.InstanceType ?? 't3.micro',
      subnetId,
      clientToken: token,
      launchIndex,
      reservationId,
      lifecycle,
      ip: `10.0.${Math.floor(this.nextIp / 250)}.${(this.nextIp++ % 250) + 1}`,
      tags: new Map(tags),
      launchedAt: now,
      phase: 'launched',
      phaseAt: now,
    }));
    for (const i of launched) {
      this.instances.set(i.id, i);
      this.launched.push(i.tags);
    }
    this.tokens.set(token, { paramsHash: hash, instanceIds: launched.map((i) => i.id) });
    return runXml(launched, this);
  }

  private describeInstances(p: Record<string, string>): string {
    const ids = indexed(p, 'InstanceId').map((n) => p[`InstanceId.${n}`]!);
    if (ids.length && p.MaxResults) throw new Ec2Fault(400, 'InvalidParameterCombination', 'The parameter instancesSet cannot be used with the parameter maxResults');
    this.purgeOldTerminated();
    let found: EmulatedInstance[];
    if (ids.length) {
      const missing = ids.filter((id) => !this.visible(id));
      if (missing.length) throw new Ec2Fault(400, 'InvalidInstanceID.NotFound', `The instance IDs '${missing.join(', ')}' do not exist`);
      found = ids.map((id) => this.instances.get(id)!);
    } else {
      found = [...this.instances.values()].filter((i) => this.visible(i.id));
    }
    const filters = indexed(p, 'Filter').map((n) => ({
      name: p[`Filter.${n}.Name`]!,
      values: indexed(p, `Filter.${n}.Value`).map((m) => p[`Filter.${n}.Value.${m}`]!),
    }));
    found = found.filter((i) => filters.every((f) => this.matches(i, f.name, f.values)));
    const max = p.MaxResults ? Number(p.MaxResults) : found.length;
    if (p.MaxResults && (max < 5 || max > 1000)) throw new Ec2Fault(400, 'InvalidParameterValue', 'MaxResults must be between 5 and 1000');
    const offset = p.NextToken ? Number(Buffer.from(p.NextToken, 'base64url').toString()) : 0;
    const page = found.slice(offset, offset + max);
    const endless = this.faults.malformed === 'endless-pages' && p.MaxResults;
    const next = offset + max < found.length ? Buffer.from(String(offset + max)).toString('base64url') : endless ? Buffer.from(String(offset)).toString('base64url') : null;
    const reservations = page.map((i) => `<item><reservationId>${i.reservationId}</reservationId><ownerId>123456789012</ownerId><groupSet/><instancesSet>${this.instanceXml(i)}</instancesSet></item>`).join('');
    return `<DescribeInstancesResponse xmlns="${NS}"><requestId>${requestId()}</requestId><reservationSet>${reservations}</reservationSet>${next ? `<nextToken>${next}</nextToken>` : ''}</DescribeInstancesResponse>`;
  }

  private changeState(p: Record<string, string>, phase: 'stopping' | 'terminating', root: string): string {
    const ids = indexed(p, 'InstanceId').map((n) => p[`InstanceId.${n}`]!);
    if (!ids.length) throw new Ec2Fault(400, 'MissingParameter', 'The request must contain the parameter InstanceId');
    const missing = ids.filter((id) => !this.visible(id));
    if (missing.length) throw new Ec2Fault(400, 'InvalidInstanceID.NotFound', `The instance IDs '${missing.join(', ')}' do not exist`);
    const items = ids.map((id) => {
      const i = this.instances.get(id)!;
      const previous = this.stateOf(i);
      const alreadyGone = previous === 'terminated' || previous === 'shutting-down';
      if (phase === 'stopping' && (previous === 'terminated' || previous === 'shutting-down')) {
        throw new Ec2Fault(400, 'IncorrectInstanceState', `The instance '${id}' is not in a state from which it can be stopped.`);
      }
      if (!(phase === 'stopping' && (previous === 'stopped' || previous === 'stopping')) && !alreadyGone) {
        i.phase = phase;
        i.phaseAt = Date.now();
      }
      const current = this.stateOf(i);
      return `<item><instanceId>${id}</instanceId><currentState><code>${STATE_CODES[current]}</code><name>${current}</name></currentState><previousState><code>${STATE_CODES[previous]}</code><name>${previous}</name></previousState></item>`;
    });
    return `<${root} xmlns="${NS}"><requestId>${requestId()}</requestId><instancesSet>${items.join('')}</instancesSet></${root}>`;
  }

  stateOf(i: EmulatedInstance): string {
    const age = Date.now() - i.phaseAt;
    switch (i.phase) {
      case 'launched':
        return age >= (this.options.bootDelayMs ?? 50) ? 'running' : 'pending';
      case 'stopping':
        return age >= (this.options.stopDelayMs ?? 50) ? 'stopped' : 'stopping';
      case 'terminating':
        return age >= (this.options.terminateDelayMs ?? 50) ? 'terminated' : 'shutting-down';
    }
  }

  /** Inside the consistency window a fresh instance does not exist as far as reads can tell. */
  private visible(id: string): boolean {
    const i = this.instances.get(id);
    if (!i) return false;
    return Date.now() - i.launchedAt >= (this.faults.consistencyWindowMs ?? 0);
  }

  private purgeOldTerminated(): void {
    const keep = this.options.terminatedVisibleMs ?? 60_000;
    for (const i of this.instances.values()) {
      if (i.phase === 'terminating' && Date.now() - i.phaseAt > keep + (this.options.terminateDelayMs ?? 50)) this.instances.delete(i.id);
    }
  }

  private matches(i: EmulatedInstance, name: string, values: string[]): boolean {
    if (name.startsWith('tag:')) return values.includes(i.tags.get(name.slice(4)) ?? '\u0000');
    switch (name) {
      case 'tag-key':
        return values.some((v) => i.tags.has(v));
      case 'instance-state-name':
        return values.includes(this.stateOf(i));
      case 'client-token':
        return values.includes(i.clientToken);
      case 'subnet-id':
        return values.includes(i.subnetId ?? '');
      default:
        throw new Ec2Fault(400, 'InvalidParameterValue', `The filter '${name}' is invalid`);
    }
  }

  instanceXml(i: EmulatedInstance): string {
    const state = this.faults.malformed === 'unknown-state' ? 'hibernated' : this.stateOf(i);
    const tags = [...i.tags].map(([k, v]) => `<item><key>${xml(k)}</key><value>${xml(v)}</value></item>`).join('');
    return (
      `<item>${this.faults.malformed === 'missing-id' ? '' : `<instanceId>${i.id}</instanceId>`}<imageId>${xml(i.imageId)}</imageId>` +
      `<amiLaunchIndex>${i.launchIndex}</amiLaunchIndex>` +
      `<instanceState><code>${STATE_CODES[state] ?? 99}</code><name>${state}</name></instanceState>` +
      `<instanceType>${xml(i.instanceType)}</instanceType><launchTime>${new Date(i.launchedAt).toISOString()}</launchTime>` +
      (state === 'terminated' ? '' : `<privateIpAddress>${i.ip}</privateIpAddress>`) +
      (i.subnetId ? `<subnetId>${xml(i.subnetId)}</subnetId>` : '') +
      `<clientToken>${xml(i.clientToken)}</clientToken>` +
      (i.lifecycle === 'spot' ? '<instanceLifecycle>spot</instanceLifecycle>' : '') +
      `<tagSet>${tags}</tagSet></item>`
    );
  }
}

class Ec2Fault extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function runXml(launched: EmulatedInstance[], emulator: Ec2Emulator): string {
  const reservationId = launched[0]?.reservationId ?? 'r-0';
  return `<RunInstancesResponse xmlns="${NS}"><requestId>${requestId()}</requestId><reservationId>${reservationId}</reservationId><ownerId>123456789012</ownerId><groupSet/><instancesSet>${launched.map((i) => emulator.instanceXml(i)).join('')}</instancesSet></RunInstancesResponse>`;
}

function errorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${xml(code)}</Code><Message>${xml(message)}</Message></Error></Errors><RequestID>${requestId()}</RequestID></Response>`;
}

/** The N of every `prefix.N.…` parameter, in order. */
function indexed(p: Record<string, string>, prefix: string): string[] {
  const re = new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.(\\d+)(\\.|$)`);
  const found = new Set<number>();
  for (const key of Object.keys(p)) {
    const m = re.exec(key);
    if (m) found.add(Number(m[1]));
  }
  return [...found].sort((a, b) => a - b).map(String);
}

function paramsHash(p: Record<string, string>): string {
  const relevant = Object.entries(p).filter(([k]) => !['Action', 'Version', 'ClientToken'].includes(k));
  return createHash('sha256').update(JSON.stringify(relevant.sort())).digest('hex');
}

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function requestId(): string {
  return randomBytes(16).toString('hex');
}
