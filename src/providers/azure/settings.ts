// A pool's `settings` for provider azure, validated with messages that name the field.
import { z } from 'zod';

const galleryImage = z.object({ galleryImageVersionId: z.string().startsWith('/subscriptions/', 'a gallery image version resource id') }).strict();
const platformImage = z
  .object({ publisher: z.string().min(1), offer: z.string().min(1), sku: z.string().min(1), version: z.string().min(1).default('latest') })
  .strict();

export const azureSettingsSchema = z
  .object({
    subscriptionId: z.string({ error: 'subscriptionId is required' }).regex(/^[0-9a-f-]{36}$/i, 'subscriptionId must be a subscription GUID'),
    resourceGroup: z.string({ error: 'resourceGroup is required' }).min(1, 'resourceGroup is required'),
    location: z.string({ error: 'location is required (for example westeurope)' }).min(1, 'location is required (for example westeurope)'),
    /** Defaults to sf-<cluster>-<pool>. */
    scaleSetName: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9-]{0,62}$/, 'letters, digits and dashes, at most 63').optional(),
    vmSize: z.string({ error: 'vmSize is required (for example Standard_D2s_v5)' }).min(1, 'vmSize is required (for example Standard_D2s_v5)'),
    image: z.union([galleryImage, platformImage], { error: 'image needs galleryImageVersionId, or publisher, offer and sku' }),
    subnetId: z.string({ error: 'subnetId is required (a subnet resource id)' }).startsWith('/subscriptions/', 'subnetId must be a subnet resource id'),
    adminUsername: z.string().min(1).default('sandfleet'),
    /** An SSH public key (not a secret). Windows pools name an environment variable holding the password instead. */
    sshPublicKey: z.string().startsWith('ssh-').optional(),
    adminPasswordEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'the NAME of an environment variable').optional(),
    spot: z.object({ maxPrice: z.number().min(-1).default(-1) }).strict().optional(),
    ephemeralOsDisk: z.boolean().default(false),
    forceDeletion: z.boolean().default(false),
    /** Only for emulators and sovereign clouds. */
    endpoint: z.url().optional(),
    operationTimeoutS: z.number().int().min(1).max(7200).default(900),
    /** How long a read (a scale set, its VM or NIC listing, all pages) may wait for ARM's answer. */
    readTimeoutS: z.number().int().min(1).max(600).default(30),
    pollIntervalMs: z.number().int().min(1).max(60_000).default(5000),
    /** Azure pre-empts scale set operations beyond a few at a time. */
    maxConcurrentOperations: z.number().int().min(1).max(16).default(4),
    maxRetries: z.number().int().min(0).max(10).default(3),
    notFoundGraceS: z.number().int().min(0).max(3600).default(60),
  })
  .strict()
  .refine((s) => s.sshPublicKey || s.adminPasswordEnv, { message: 'give sshPublicKey (linux) or adminPasswordEnv (windows)' });

export type AzureSettings = z.infer<typeof azureSettingsSchema>;
