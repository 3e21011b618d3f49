// A pool's `settings` for provider aws, validated with messages that name the field.
import { z } from 'zod';

export const awsSettingsSchema = z
  .object({
    region: z.string({ error: 'region is required (for example eu-west-1)' }).min(1, 'region is required (for example eu-west-1)'),
    /** Only for emulators and VPC endpoints; normally the SDK derives it from the region. */
    endpoint: z.url().optional(),
    launchTemplate: z
      .object({ id: z.string().min(1).optional(), name: z.string().min(1).optional(), version: z.string().min(1).default('$Default') })
      .strict()
      .refine((t) => Boolean(t.id) !== Boolean(t.name), 'give exactly one of launchTemplate.id or launchTemplate.name')
      .optional(),
    imageId: z.string().regex(/^ami-[0-9a-f]+$/, 'imageId must look like ami-0123abcd').optional(),
    instanceType: z.string().min(1).optional(),
    subnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]+$/, 'subnet ids look like subnet-0123abcd')).default([]),
    securityGroupIds: z.array(z.string().regex(/^sg-[0-9a-f]+$/, 'security group ids look like sg-0123abcd')).default([]),
    spot: z
      .object({ maxPrice: z.string().regex(/^\d+(\.\d+)?$/).optional(), fallbackToOnDemand: z.boolean().default(true) })
      .strict()
      .optional(),
    /** How long a fresh instance may be invisible (EC2 eventual consistency) before NotFound means gone. */
    notFoundGraceS: z.number().int().min(0).max(3600).default(120),
    /** Instances per DescribeInstances page when listing. */
    listPageSize: z.number().int().min(5).max(1000).default(500),
    /** Attempts per API call, including the SDK's own retries of throttling and 5xx. */
    maxAttempts: z.number().int().min(1).max(10).default(3),
    /** How long one attempt of a call may wait for EC2's answer. */
    requestTimeoutS: z.number().int().min(1).max(600).default(30),
  })
  .strict()
  .refine((s) => s.launchTemplate || (s.imageId && s.instanceType), {
    message: 'give either launchTemplate, or imageId and instanceType',
  });

export type AwsSettings = z.infer<typeof awsSettingsSchema>;
