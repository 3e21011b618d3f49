// sandfleet's side of a cloud's meter: before an adapter sends a request it takes a token of the
// account's shared bucket for that request (rate_buckets, one row per account and bucket, shared
// by every daemon). Without one the request is not sent: it fails as throttled with the wait,
// and its job is delayed without spending an attempt (job-delay.ts).
import type { Executor } from '../db/database.js';
import { takeToken, type RateLimit } from '../machinery/index.js';
import { throttled } from '../providers/errors.js';
import type { CallMeter } from '../providers/types.js';

/** The meter of one account, or none when it meters nothing; a bucket without a limit is unmetered. */
export function accountMeter(db: Executor, account: string, limits: Readonly<Record<string, RateLimit>>): CallMeter | undefined {
  if (Object.keys(limits).length === 0) return undefined;
  return async (bucket, tokens = 1) => {
    const limit = limits[bucket];
    if (!limit) return;
    const grant = await takeToken(db, `${account}:${bucket}`, limit, tokens);
    if (!grant.granted) throw throttled(`${account}: sandfleet's ${bucket} budget is spent for now`, grant.retryInMs, { operation: bucket, code: 'LocalBudget' });
  };
}
