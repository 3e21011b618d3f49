// Readiness: a booting (or reimaging) machine becomes ready only once the provider reports it
// running and, where the pool sets a probe, the probe answers. One not ready within the boot
// timeout, or whose instance dies on the way, fails and goes down the normal teardown.
import net from 'node:net';
import type { MachineRow } from '../../db/schema.js';
import { becomeReady, markFailed, rowOf } from '../../machinery/index.js';
import { isProviderError } from '../../providers/errors.js';
import { MAX_LEASES_PER_CLAIM } from '../defaults.js';
import { adapterOf, claimTurn, handOn, pause, type LifecycleContext } from './context.js';

export type ReadinessProbe = { kind: 'tcp'; port: number } | { kind: 'http'; port: number; path: string };

export interface ReadinessOptions {
  bootTimeoutMs: number;
  probe?: ReadinessProbe | undefined;
  /** Per probe attempt. */
  probeTimeoutMs?: number;
}

export interface ReadinessRecovery {
  /**
   * The reimage may never have been asked for (a crash between recording `reimaging` and the
   * provider call): if the provider still reports the instance stopped, ask again. Set only when
   * this job did not itself just request it.
   */
  reimageIfStopped: boolean;
}

/**
 * Waits for a booting (or reimaging) machine's instance to run and its probe to answer, then
 * records it ready, letting queued tasks claim it in the same transaction. Answers the row as
 * the outcome left it (ready, leased, failed, or wherever someone else moved it).
 */
export async function awaitReady(ctx: LifecycleContext, machine: MachineRow, options: ReadinessOptions, recovery: ReadinessRecovery = { reimageIfStopped: false }): Promise<MachineRow | null> {
  const { pool, provider } = await adapterOf(ctx, machine);
  const providerId = machine.providerId;
  if (!providerId) return fail(ctx, machine, 'booting without a provider id');
  let reimageIfStopped = recovery.reimageIfStopped && machine.state === 'reimaging' && provider.reimage !== undefined;
  for (let attempt = 0; ; attempt++) {
    if ((await ctx.clock.now()) - machine.stateChangedAt.getTime() > options.bootTimeoutMs) {
      return fail(ctx, machine, `not ready within the boot timeout of ${Math.round(options.bootTimeoutMs / 1000)}s`);
    }
    try {
      const instance = await provider.get(providerId, { createdAt: machine.createdAt });
      if (instance.state === 'terminated' || instance.state === 'terminating') return fail(ctx, machine, `instance ${instance.state} while booting`);
      if (instance.state === 'stopped' && reimageIfStopped) {
        await provider.reimage?.(providerId);
        reimageIfStopped = false;
      }
      const ip = instance.ip ?? machine.ip;
      if (instance.state === 'running' && (await probeAnswers(ip, options))) {
        const ready = await becomeReady(ctx.db, machine.id, ip, MAX_LEASES_PER_CLAIM, { actor: ctx.actor, turn: claimTurn(ctx) });
        await handOn(ctx, pool, ready);
        return ready.machine;
      }
    } catch (error) {
      if (isProviderError(error, 'not_found')) return fail(ctx, machine, 'instance vanished while booting');
      if (!isProviderError(error) || !error.retryable) throw error;
    }
    await pause(ctx, attempt);
  }
}

async function fail(ctx: LifecycleContext, machine: MachineRow, reason: string): Promise<MachineRow | null> {
  return rowOf(await markFailed(ctx.db, machine.id, reason, { actor: ctx.actor, reason }));
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
