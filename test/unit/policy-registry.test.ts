// A pool's row names its scaling policy; the config's snake_case settings reach the row as the
// scheduler reads them, and a row that does not parse is refused naming the field.
import { describe, expect, it } from 'vitest';
import { parseConfig, poolDefinition } from '../../src/config/load.js';
import type { PoolRow } from '../../src/db/schema.js';
import { AutoscaleSettingsError, autoscalePolicyName, autoscaleSettingsOf, PolicyBook } from '../../src/scheduler/policies/registry.js';
import { poolRow } from '../support/fixtures.js';

const row = (autoscale: Record<string, unknown>, name = 'p'): PoolRow => poolRow({ name, maxSize: 10, autoscale });

describe('autoscale settings', () => {
  it('run the forecasting policy when the row names none, and fill in the named policy\'s defaults', () => {
    expect(autoscaleSettingsOf(row({}))).toEqual({ policy: 'forecast', cover: 0.95 });
    expect(autoscaleSettingsOf(row({ policy: 'forecast', bootS: 30 }))).toEqual({ policy: 'forecast', cover: 0.95, bootS: 30 });
    expect(autoscaleSettingsOf(row({ policy: 'leaky-bucket', intervalS: 60 }))).toEqual({ policy: 'leaky-bucket', intervalS: 60, overprovision: 0.2 });
  });

  it('refuse a row that does not parse, naming the field', () => {
    expect(() => autoscaleSettingsOf(row({ policy: 'forecast', cover: 2 }))).toThrow(AutoscaleSettingsError);
    expect(() => autoscaleSettingsOf(row({ policy: 'forecast', cover: 2 }))).toThrow(/pool p: autoscale\.cover/);
    expect(autoscalePolicyName(row({ policy: 'forecast', cover: 2 }))).toBe('invalid settings');
    expect(autoscalePolicyName(row({}))).toBe('forecast');
  });

  it('reach the row from the config file in the scheduler\'s terms', () => {
    const yaml = `pools:\n  - name: a\n    provider: sim\n    max_size: 3\n    autoscale: { policy: forecast, cover: 0.8, boot_s: 45 }\n  - name: b\n    provider: sim\n    max_size: 3\n`;
    const [a, b] = parseConfig(yaml, 't.yaml', {}).pools.map(poolDefinition);
    expect(a?.autoscale).toEqual({ policy: 'forecast', cover: 0.8, bootS: 45 });
    expect(b?.autoscale).toEqual({ policy: 'forecast' });
    expect(autoscaleSettingsOf(row(a!.autoscale!))).toEqual({ policy: 'forecast', cover: 0.8, bootS: 45 });
  });
});

describe('PolicyBook', () => {
  it('gives each pool the policy its row names, one object per distinct setting', () => {
    const book = new PolicyBook();
    expect(book.for(row({})).name).toBe('forecast');
    expect(book.for(row({ policy: 'demand' })).name).toBe('demand');
    expect(book.for(row({ policy: 'on-demand' })).name).toBe('on-demand');
    expect(book.for(row({ policy: 'keep-alive' })).name).toBe('keep-alive');
    expect(book.for(row({ policy: 'leaky-bucket' })).name).toBe('leaky-bucket');
    const forecast = book.for(row({ policy: 'forecast', cover: 0.8 }, 'a'));
    expect(forecast.name).toBe('forecast');
    expect(book.for(row({ policy: 'forecast', cover: 0.8 }, 'b'))).toBe(forecast);
    expect(book.for(row({ policy: 'forecast', cover: 0.9 }, 'a'))).not.toBe(forecast);
  });
});
