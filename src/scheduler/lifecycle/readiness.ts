// Readiness: a booting (or reimaging) machine becomes ready only once the provider reports it
// running and, where the pool sets a probe, the probe answers. One not ready within the boot
// timeout, or whose instance dies on the way, fails and goes down the normal teardown.
import net from 'node:net';
import { markFailed, markReady } from '../../machinery/index.js';
import { isProviderError } from '../../providers/errors.js';
import { load, pause, type LifecycleContext } from './context.js';

export type ReadinessProbe = { kind: 'tcp'; port: number } | { kind: 'http'; port: number; path: string };

export interface ReadinessOptions {
  bootTimeoutMs: number;
  probe?: ReadinessProbe | undefined;
  /** Per probe attempt. */
  probeTimeoutMs?: number;
}

export type ReadinessResult = 'ready' | 'failed' | 'skipped';

export async function awaitReady(ctx: LifecycleContext, machineId: string, options: ReadinessOptions): Promise<ReadinessResult> {
  for (;;) {
    const loaded = await load(ctx, machineId);
    if (!loaded || !['booting', 'reimaging'].includes(loaded.machine.state)) return 'skipped';
    const { machine, provider } = loaded;
    if (Date.now() - machine.stateChangedAt.getTime() > options.bootTimeoutMs) {
      return fail(ctx, machineId, `not ready within the boot timeout of ${Math.round(options.bootTimeoutMs / 1000)}s`);
    }
    if (!machine.providerId) return fail(ctx, machineId, 'booting without a provider id');
    try {
      const instance = await provider.get(machine.providerId, { createdAt: machine.createdAt });
      if (instance.state === 'terminated' || instance.state === 'terminating') return fail(ctx, machineId, `instance ${instance.state} while booting`);
      const ip = instance.ip ?? machine.ip;
      if (instance.state === 'running' && (await probeAnswers(ip, options))) {
        const ready = await markReady(ctx.db, machineId, { actor: ctx.actor }, ip);
        return ready.ok ? 'ready' : 'skipped';
      }
    } catch (error) {
      if (isProviderError(error, 'not_found')) return fail(ctx, machineId, 'instance vanished while booting');
      if (!isProviderError(error) || !error.retryable) throw error;
    }
    await pause(ctx);
  }
}

async function fail(ctx: LifecycleContext, machineId: string, reason: string): Promise<ReadinessResult> {
  const failed = await markFailed(ctx.db, machineId, reason, { actor: ctx.actor, reason });
  return failed.ok ? 'failed' : 'skipped';
}

async function probeAnswers(ip: string | null, options: ReadinessOptions): Promise<boolean> {
  const probe = options.probe;
  if (!probe) return true;
  if (!ip) return false;
  const timeout = options.probeTimeoutMs ?? 2000;
  return probe.kind === 'tcp' ? tcpAnswers(ip, probe.port, timeout) : httpAnswers(ip, probe.port, probe.path, timeout);
}

function tcpAnswers(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: timeoutMs });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

async function httpAnswers(host: string, port: number, path: string, timeoutMs: number): Promise<boolean> {
  try {
    const response = await fetch(`http://${host}:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    return response.status >= 200 && response.status < 400;
  } catch {
    return false;
  }
}
