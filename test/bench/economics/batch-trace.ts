// A second built-in workload, shaped unlike the synthetic one and the Alibaba trace so that the
// policy is also judged on a pattern it was not tuned to: scheduled batches. Every hour, at a
// minute drawn around :00 (± 3 min), a batch of 5–40 tasks arrives within 30 s (a CI or cron fan-
// out); between batches a thin Poisson trickle (0.1 per minute). Run times are log-normal around a
// median of 90 s (σ = 1, so one in twenty runs past about 7 min), cut to 5 s – 2 h. Seeded.
import { prng } from '../../../src/providers/prng.js';
import type { Workload, WorkloadTask } from './trace-file.js';

const TRICKLE_PER_S = 0.1 / 60;
const BATCH = { min: 5, max: 40, spreadS: 30, jitterS: 180 };
const RUN = { medianS: 90, sigma: 1, minS: 5, maxS: 7200 };

export function batchWorkload(hours: number, seed: number): Workload {
  const random = prng(seed);
  const horizon = hours * 3600;
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const runS = () => Math.round(Math.min(RUN.maxS, Math.max(RUN.minS, RUN.medianS * Math.exp(RUN.sigma * normal()))));
  const tasks: WorkloadTask[] = [];
  for (let t = -Math.log(1 - random()) / TRICKLE_PER_S; t < horizon; t += -Math.log(1 - random()) / TRICKLE_PER_S) tasks.push({ at: t, runS: runS() });
  for (let hour = 0; hour * 3600 < horizon; hour++) {
    const start = Math.max(0, hour * 3600 + (2 * random() - 1) * BATCH.jitterS);
    const size = BATCH.min + Math.floor(random() * (BATCH.max - BATCH.min + 1));
    for (let k = 0; k < size; k++) {
      const at = start + random() * BATCH.spreadS;
      if (at < horizon) tasks.push({ at, runS: runS() });
    }
  }
  tasks.sort((a, b) => a.at - b.at);
  return { name: 'batches', tasks, hours };
}
