// The two ARM clients a pool's adapter uses: the Compute management client, and a plain REST
// client for the one call it lacks (a scale set's network interfaces). Built once, lazily, so a
// pool that never calls Azure never loads @azure/identity.
import { getClient, type Client } from '@azure-rest/core-client';
import { ComputeManagementClient } from '@azure/arm-compute';
import type { TokenCredential } from '@azure/core-auth';
import type { PipelinePolicy, TlsSettings } from '@azure/core-rest-pipeline';
import { armBucket } from '../cloud-budgets.js';
import type { CallMeter } from '../types.js';
import type { AzureSettings } from './settings.js';

const ARM_SCOPE = 'https://management.azure.com/.default';

export interface ArmClients {
  compute: ComputeManagementClient;
  rest: Client;
}

export interface ArmAccess {
  /** Defaults to DefaultAzureCredential (environment, workload identity, managed identity, CLI). */
  credential?: TokenCredential;
  /** Extra trust for emulators with a test certificate; never needed against Azure. */
  tlsOptions?: TlsSettings;
  /** Takes a token of the subscription's reads, writes or deletes before each request is sent (long-running operations' polls included). */
  meter?: CallMeter;
}

export function armClients(settings: AzureSettings, access: ArmAccess): () => Promise<ArmClients> {
  let clients: Promise<ArmClients> | undefined;
  return () => {
    clients ??= (async () => {
      const credential = access.credential ?? new (await import('@azure/identity')).DefaultAzureCredential();
      const common = {
        ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
        ...(access.tlsOptions ? { tlsOptions: access.tlsOptions } : {}),
        retryOptions: { maxRetries: settings.maxRetries },
        ...(access.meter ? { additionalPolicies: [{ policy: meterPolicy(access.meter), position: 'perCall' as const }] } : {}),
      };
      return {
        compute: new ComputeManagementClient(credential, settings.subscriptionId, common),
        rest: getClient(settings.endpoint ?? 'https://management.azure.com', credential, { ...common, credentials: { scopes: [ARM_SCOPE] } }),
      };
    })();
    return clients;
  };
}

function meterPolicy(meter: CallMeter): PipelinePolicy {
  return {
    name: 'sandfleetCallMeter',
    sendRequest: async (request, next) => {
      await meter(armBucket(request.method));
      return next(request);
    },
  };
}
