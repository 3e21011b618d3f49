// The cloud phase's figures, each next to the issue's target: requests per machine by call
// class, describes per machine poll, throttled responses in the steady window, and the time
// from a burst of submissions into an empty pool to that many machines requested and ready.
import { CALL_CLASSES, CLOUDS, type CallClass, type CloudOutcome, type CloudResult } from './cloud.js';
import type { FleetFigure, Target } from './figures.js';

const PER_MACHINE_TARGETS: Partial<Record<CallClass, Target>> = {
  // Machines reserved together share one create request.
  create: { op: '<=', value: 0.1 },
  delete: { op: '<=', value: 1.2 },
};
const DESCRIBE_PER_POLL: Target = { op: '<=', value: 0.05 };
const NO_THROTTLING: Target = { op: '<=', value: 0 };
const REQUESTED_TARGET: Target = { op: '<', value: 60 };

/** `outcomes` null: the phase was not asked for; every figure is still listed, unmeasured, with the reason. */
export function cloudFigures(outcomes: readonly CloudOutcome[] | null, burst: number): FleetFigure[] {
  const out: FleetFigure[] = [];
  const figure = (name: string, value: number | null, unit: string, detail: string, target?: Target): FleetFigure => ({ name, value, unit, detail, run: 'cloud', ...(target ? { target } : {}) });
  const results: CloudResult[] = [];
  for (const cloud of CLOUDS) {
    const outcome = outcomes?.find((o) => o.cloud === cloud);
    if (outcome && !('failure' in outcome)) {
      results.push(outcome);
      continue;
    }
    const why = outcome ? `not measured: the ${cloud} run failed (${outcome.failure})` : outcomes ? `not measured: the ${cloud} run did not happen` : 'not measured: --phases left out cloud';
    for (const c of CALL_CLASSES) out.push(figure(`cloud_calls_per_machine.${cloud}.${c}`, null, 'calls/machine', why, PER_MACHINE_TARGETS[c]));
    out.push(figure(`describe_per_machine_poll.${cloud}`, null, 'describes/poll', why, DESCRIBE_PER_POLL));
    if (cloud !== 'sim') {
      out.push(figure(`scaleup_${burst}_requested_s.${cloud}`, null, 's', why, REQUESTED_TARGET));
      out.push(figure(`scaleup_${burst}_ready_s.${cloud}`, null, 's', why));
    }
  }
  for (const r of results) {
    const how = `${r.machines} machines of one ${r.cloud} pool (${r.cloud === 'aws' ? 'one use, then deleted' : 'two uses, reimaged between, then deleted'}): ${burst} tasks at once into the empty pool, ${r.steadyTasks} more over the steady window, then drained; requests as the cloud counted them`;
    for (const c of CALL_CLASSES) {
      const n = r.requests[c];
      // A call the cloud lacks was sent 0 times (aws pools delete instead of reimaging).
      const detail = n === null ? `0: ${r.cloud} has no ${c} call, so its pools never make one; ${how}` : `${n} ${c} requests; ${how}`;
      out.push(figure(`cloud_calls_per_machine.${r.cloud}.${c}`, (n ?? 0) / r.machines, 'calls/machine', detail, PER_MACHINE_TARGETS[c]));
    }
    const describes = r.requests.describe ?? 0;
    out.push(figure(`describe_per_machine_poll.${r.cloud}`, r.machinePolls ? describes / r.machinePolls : null, 'describes/poll', `${describes} describe requests (status reads; on Azure also operation polls) for ${r.machinePolls} status reads of single machines by the lifecycle`, DESCRIBE_PER_POLL));
    if (r.cloud !== 'sim') {
      out.push(figure(`scaleup_${burst}_requested_s.${r.cloud}`, r.requestedS, 's', `first submission → the cloud had created ${burst} instances for the pool (modelled documented budget; sandfleet's default rate limits)`, REQUESTED_TARGET));
      out.push(figure(`scaleup_${burst}_ready_s.${r.cloud}`, r.readyS, 's', `first submission → ${burst} machines recorded ready (instances boot in 5 s; machine_concurrency 200)`));
    }
  }
  const steady = results.reduce((n, r) => n + r.throttledSteady, 0);
  out.push(
    figure(
      'throttled_responses_steady',
      results.length === CLOUDS.length ? steady : null,
      'responses',
      results.length < CLOUDS.length ? 'not measured: every cloud\'s run is needed' : `throttling errors the clouds answered in the steady window: ${results.map((r) => `${r.cloud} ${r.throttledSteady} (up to ${r.steadyMachines} machines; ${r.throttledScaleUp} during the scale-up)`).join(', ')}; measured on pools of up to ${burst} machines each, not 10,000`,
      NO_THROTTLING,
    ),
  );
  return out;
}
