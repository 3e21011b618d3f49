// The EC2 client a pool's adapter sends every command through: built once from the pool's
// settings (region, endpoint, attempts, deadlines), with the account's call meter in its
// middleware so that no command, retries aside, goes out without its tokens.
import { EC2Client } from '@aws-sdk/client-ec2';
import { ec2Charges } from '../cloud-budgets.js';
import type { CallMeter } from '../types.js';
import { classifyEc2Error } from './errors.js';
import type { AwsSettings } from './settings.js';

const CONNECT_TIMEOUT_MS = 5_000;

export function ec2Client(settings: AwsSettings, meter?: CallMeter): EC2Client {
  const client = new EC2Client({
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    maxAttempts: settings.maxAttempts,
    // A connection or an answer that never comes ends the attempt (by default the SDK only warns).
    requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: settings.requestTimeoutS * 1000, throwOnRequestTimeout: true },
  });
  if (meter) meterCalls(client, meter);
  return client;
}

/** Sends one call; whatever it throws is thrown classified. */
export async function callEc2<T>(operation: string, send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (error) {
    throw classifyEc2Error(error, operation);
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
