// The scale set a pool's settings describe, as created once (empty) and grown afterwards.
import type { VirtualMachineScaleSet } from '@azure/arm-compute';
import { fatal } from '../errors.js';
import { TAG } from '../types.js';
import type { AzureSettings } from './settings.js';

export function scaleSetModel(s: AzureSettings, names: { scaleSet: string; cluster: string; pool: string }): VirtualMachineScaleSet {
  const image = 'galleryImageVersionId' in s.image ? { id: s.image.galleryImageVersionId } : s.image;
  const password = s.adminPasswordEnv ? process.env[s.adminPasswordEnv] : undefined;
  if (s.adminPasswordEnv && !password) throw fatal(`environment variable ${s.adminPasswordEnv} (pools.${names.pool}.settings.adminPasswordEnv) is not set`);
  return {
    location: s.location,
    tags: { [TAG.cluster]: names.cluster, [TAG.pool]: names.pool },
    sku: { name: s.vmSize, tier: 'Standard', capacity: 0 },
    orchestrationMode: 'Uniform',
    // Overprovisioned extras would look like free instances and be handed out.
    overprovision: false,
    singlePlacementGroup: false,
    upgradePolicy: { mode: 'Manual' },
    virtualMachineProfile: {
      ...(s.spot ? { priority: 'Spot', evictionPolicy: 'Delete', billingProfile: { maxPrice: s.spot.maxPrice } } : {}),
      storageProfile: {
        imageReference: image,
        osDisk: {
          createOption: 'FromImage',
          caching: 'ReadOnly',
          ...(s.ephemeralOsDisk ? { diffDiskSettings: { option: 'Local' } } : { managedDisk: { storageAccountType: 'StandardSSD_LRS' } }),
        },
      },
      osProfile: {
        computerNamePrefix: names.scaleSet.replace(/[^a-zA-Z0-9-]/g, '').slice(0, 9),
        adminUsername: s.adminUsername,
        ...(password ? { adminPassword: password } : {}),
        ...(s.sshPublicKey
          ? { linuxConfiguration: { disablePasswordAuthentication: true, ssh: { publicKeys: [{ path: `/home/${s.adminUsername}/.ssh/authorized_keys`, keyData: s.sshPublicKey }] } } }
          : {}),
      },
      networkProfile: {
        networkInterfaceConfigurations: [{ name: 'nic', primary: true, ipConfigurations: [{ name: 'ipconfig', subnet: { id: s.subnetId } }] }],
      },
    },
  };
}
