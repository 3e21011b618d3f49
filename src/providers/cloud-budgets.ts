// The API budgets the clouds document, as buckets a simulated cloud or an emulator enforces.
// Figures are the defaults a new account gets; accounts differ (AWS and Azure raise them on
// request, and other callers on the account spend from the same buckets), so every user of
// these takes overrides.
import type { BucketLimit } from './budget.js';

/**
 * EC2, per account and region: each API has its own request bucket (one token per call) and
 * the calls that act on instances also a resource bucket (one token per instance).
 * https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html (request rate limiting:
 * non-mutating actions such as DescribeHosts hold 100 and refill 20/s; resource rate limiting:
 * RunInstances holds 1,000 instances and refills 2/s). RunInstances' request bucket and the
 * unfiltered, unpaginated Describe class are the figures this project measures against (5 refilling
 * 2/s; 50 refilling 10/s), stricter than the generic mutating class.
 */
export const EC2_BUDGET = {
  RunInstances: { burst: 5, perSecond: 2 },
  'RunInstances:instances': { burst: 1000, perSecond: 2 },
  /** DescribeInstances with a filter or a page size. */
  DescribeInstances: { burst: 100, perSecond: 20 },
  /** DescribeInstances by ids alone (no filter, no page size). */
  'DescribeInstances:unfiltered': { burst: 50, perSecond: 10 },
  StopInstances: { burst: 50, perSecond: 5 },
  'StopInstances:instances': { burst: 1000, perSecond: 20 },
  TerminateInstances: { burst: 50, perSecond: 5 },
  'TerminateInstances:instances': { burst: 1000, perSecond: 20 },
} as const satisfies Record<string, BucketLimit>;

export type Ec2BudgetName = keyof typeof EC2_BUDGET;

/** The buckets EC2 charges one request to: the API's request bucket, and its resource bucket per instance. */
export function ec2Charges(action: string, request: { filteredOrPaged: boolean; instances: number }): [Ec2BudgetName, number][] {
  const n = Math.max(1, request.instances);
  switch (action) {
    case 'RunInstances':
      return [['RunInstances', 1], ['RunInstances:instances', n]];
    case 'DescribeInstances':
      return [[request.filteredOrPaged ? 'DescribeInstances' : 'DescribeInstances:unfiltered', 1]];
    case 'StopInstances':
      return [['StopInstances', 1], ['StopInstances:instances', n]];
    case 'TerminateInstances':
      return [['TerminateInstances', 1], ['TerminateInstances:instances', n]];
    default:
      return [];
  }
}

/**
 * Azure Resource Manager, per subscription and region: one bucket each for reads, writes and
 * deletes, with the remaining count answered on every response in
 * `x-ms-ratelimit-remaining-subscription-{reads,writes,deletes}` and a 429 with Retry-After when
 * empty. https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling
 * (token bucket: reads 250 refilling 25/s, writes 200 refilling 10/s, deletes 200 refilling 10/s).
 */
export const ARM_BUDGET = {
  reads: { burst: 250, perSecond: 25 },
  writes: { burst: 200, perSecond: 10 },
  deletes: { burst: 200, perSecond: 10 },
} as const satisfies Record<string, BucketLimit>;

export type ArmBudgetName = keyof typeof ARM_BUDGET;

/** The bucket an ARM request spends from, by its method. */
export const armBucket = (method: string): ArmBudgetName => (method === 'GET' || method === 'HEAD' ? 'reads' : method === 'DELETE' ? 'deletes' : 'writes');
