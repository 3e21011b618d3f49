// The two ARM clients a pool's adapter uses: the Compute management client, and a plain REST
// client for the one call it lacks (a scale set's network interfaces). Built once, lazily, so a
// pool that never calls Azure never loads @azure/identity.
import { getClient, type Client } from '@azure-rest/core-client';
import { ComputeManagementClient } from '@azure/arm-compute';
import type { TokenCredential } from '@azure/core-auth';
import type { TlsSettings } from '@azure/core-rest-pipeline';
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
      };
      return {
        compute: new ComputeManagementClient(credential, settings.subscriptionId, common),
        rest: getClient(settings.endpoint ?? 'https://management.azure.com', credential, { ...common, credentials: { scopes: [ARM_SCOPE] } }),
      };
    })();
    return clients;
  };
}
