// The calls that Batchers send for many instances at once: one DescribeInstances, StopInstances
// or TerminateInstances for a window's ids. EC2 fails such a call whole when it names an unknown
// id, or (stop) an instance in the wrong state; these settle each id of the batch on its own.
import { DescribeInstancesCommand, StopInstancesCommand, TerminateInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import type { BatchResult } from '../batcher.js';
import type { Instance } from '../types.js';
import { classifyEc2Error, ec2ErrorCode, idsNamedIn } from './errors.js';
import { toInstance } from './instances.js';

/** Looks up one instance (through the describe Batcher), or null if EC2 does not know it. */
export type Describe = (id: string) => Promise<Instance | null>;

export async function describeBatch(client: EC2Client, ids: string[]): Promise<Map<string, BatchResult<Instance | null>>> {
  const results = new Map<string, BatchResult<Instance | null>>();
  let remaining = ids;
  // A Describe naming one unknown id fails whole; drop the ids it names and ask again.
  while (remaining.length) {
    try {
      const out = await client.send(new DescribeInstancesCommand({ InstanceIds: remaining }));
      // Every instance is checked: one without its id must not make the others look gone.
      for (const instance of (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).map(toInstance)) {
        results.set(instance.providerId, { ok: true, value: instance });
      }
      for (const id of remaining) if (!results.has(id)) results.set(id, { ok: true, value: null });
      remaining = [];
    } catch (error) {
      remaining = dropMissing(error, remaining, results, null, 'DescribeInstances');
    }
  }
  return results;
}

export async function changeBatch(client: EC2Client, describe: Describe, how: 'stop' | 'terminate', ids: string[]): Promise<Map<string, BatchResult<'done' | 'missing'>>> {
  const operation = how === 'stop' ? 'StopInstances' : 'TerminateInstances';
  const results = new Map<string, BatchResult<'done' | 'missing'>>();
  let remaining = ids;
  while (remaining.length) {
    try {
      if (how === 'stop') await client.send(new StopInstancesCommand({ InstanceIds: remaining }));
      else await client.send(new TerminateInstancesCommand({ InstanceIds: remaining }));
      for (const id of remaining) results.set(id, { ok: true, value: 'done' });
      remaining = [];
    } catch (error) {
      // A terminated (or terminating) instance counts as stopped: stop only ever powers off.
      if (how === 'stop' && ec2ErrorCode(error) === 'IncorrectInstanceState') {
        remaining = await settleIncorrectState(client, describe, remaining, results);
        continue;
      }
      remaining = dropMissing(error, remaining, results, 'missing', operation);
    }
  }
  return results;
}

/** Stop refused: anything already shutting down or terminated is done; the rest is asked again alone. */
async function settleIncorrectState(client: EC2Client, describe: Describe, ids: string[], results: Map<string, BatchResult<'done' | 'missing'>>): Promise<string[]> {
  for (const id of ids) {
    try {
      const i = await describe(id);
      if (!i) results.set(id, { ok: true, value: 'missing' });
      else if (i.state === 'terminated' || i.state === 'terminating' || i.state === 'stopped') results.set(id, { ok: true, value: 'done' });
      else {
        await client.send(new StopInstancesCommand({ InstanceIds: [id] }));
        results.set(id, { ok: true, value: 'done' });
      }
    } catch (error) {
      results.set(id, { ok: false, error: classifyEc2Error(error, 'StopInstances') });
    }
  }
  return [];
}

/** Records the ids a NotFound error names as missing and returns the rest; any other error fails the batch. */
function dropMissing<R>(error: unknown, ids: string[], results: Map<string, BatchResult<R>>, missing: R, operation: string): string[] {
  const classified = classifyEc2Error(error, operation);
  const named = classified.kind === 'not_found' ? idsNamedIn(error).filter((id) => ids.includes(id)) : [];
  if (!named.length) {
    for (const id of ids) results.set(id, { ok: false, error: classified });
    return [];
  }
  for (const id of named) results.set(id, { ok: true, value: missing });
  return ids.filter((id) => !named.includes(id));
}
