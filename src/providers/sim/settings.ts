import { z } from 'zod';

const rate = z.number().min(0).max(1);
const bucket = z.object({ burst: z.number().min(1).max(1e9), perSecond: z.number().positive().max(1e9) }).strict();

/** The sim cloud's API budget per call class, as a cloud meters it; a class left out is unmetered. */
export const simBudgetSchema = z
  .object({ create: bucket.optional(), describe: bucket.optional(), stop: bucket.optional(), delete: bucket.optional(), reimage: bucket.optional() })
  .strict();

export type SimBudget = z.infer<typeof simBudgetSchema>;

export const simSettingsSchema = z
  .object({
    bootDelayMs: z.number().int().min(0).max(3_600_000).default(1500),
    stopDelayMs: z.number().int().min(0).max(3_600_000).default(200),
    terminateDelayMs: z.number().int().min(0).max(3_600_000).default(200),
    /** How long a terminated instance stays visible to get/list, as on EC2. */
    terminatedVisibleS: z.number().int().min(0).max(86_400).default(60),
    /** Every instance's address; lets runners and readiness probes reach something real (127.0.0.1). Random 10.x when unset. */
    address: z.union([z.ipv4(), z.ipv6()]).optional(),
    notFoundGraceS: z.number().int().min(0).max(3600).default(30),
    /** The account's API budget (unmetered by default); every pool of the cluster with the same budget spends from the same buckets. */
    budget: simBudgetSchema.default({}),
    faults: z
      .object({
        seed: z.number().int().default(1),
        throttleRate: rate.default(0),
        transientRate: rate.default(0),
        capacityRate: rate.default(0),
        /** A new instance is invisible to get/list/stop/delete for this long. */
        consistencyWindowMs: z.number().int().min(0).max(600_000).default(0),
        /** Fraction of instances that die on their own, at a random moment within deathWithinS. */
        deathRate: rate.default(0),
        deathWithinS: z.number().int().min(1).max(86_400).default(60),
        /** Fraction of calls the cloud never answers (a hung endpoint); the caller's deadline must end them. */
        hangRate: rate.default(0),
        /** Fraction of calls that act and then fail as if their response were lost (transientRate splits its errors before and after acting). */
        lostResponseRate: rate.default(0),
        /** Instances the pool may have alive at once (a quota): a launch gets what is left, a create beyond it a capacity error. */
        maxInstances: z.number().int().min(0).max(1_000_000).optional(),
      })
      .strict()
      .default({ seed: 1, throttleRate: 0, transientRate: 0, capacityRate: 0, consistencyWindowMs: 0, deathRate: 0, deathWithinS: 60, hangRate: 0, lostResponseRate: 0 }),
  })
  .strict();

export type SimSettings = z.infer<typeof simSettingsSchema>;
