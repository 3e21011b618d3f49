// Waiting is not failing: a job that must wait (for its account's rate limit, or because the
// cloud answered that it is throttling us) is moved back to delayed, which spends no attempt,
// however long the wait lasts. Attempts are for errors that may not go away by waiting.
import { DelayedError, type Job } from 'bullmq';
import { isProviderError } from '../providers/errors.js';

/** How long to hold off when a throttling answer names no wait. */
const THROTTLED_DEFAULT_MS = 1000;

/** Moves the job back to delayed for `ms` and ends this run of it without spending an attempt. */
export async function delayJob(job: Job, token: string | undefined, ms: number, reason: string): Promise<never> {
  await job.moveToDelayed(Date.now() + ms, token);
  throw new DelayedError(`${reason}: retry in ${ms} ms`);
}

/** Runs `work`; a throttled provider error delays the job by the wait the cloud asked for, jittered, instead of failing it. */
export async function delayWhenThrottled<T>(job: Job, token: string | undefined, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (!isProviderError(error, 'throttled') || token === undefined) throw error;
    // Jitter spreads the jobs one throttling answer sent back, so they do not return together.
    const wait = Math.round((error.details.retryAfterMs ?? THROTTLED_DEFAULT_MS) * (1 + Math.random()));
    return delayJob(job, token, wait, `throttled (${error.details.operation ?? 'cloud call'})`);
  }
}
