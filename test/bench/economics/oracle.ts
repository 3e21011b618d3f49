// The oracle: the machine-minutes a clairvoyant scaler needs to start every task exactly when
// the measured run started it (so its waits are the same, or better), on the same pool.
//
// It knows every start s and run time r in advance, and a machine costs from its provisioning
// request to its deletion: `bootS` before its first task, each run, `resetS` between two tasks
// on one machine (sandfleet reimages after every task: the sim's reimage takes the boot delay),
// any idle gap, and `teardownS` after its last task. It boots each machine exactly when needed
// and retires it the moment keeping it idle would cost more than a fresh boot. Tasks are taken
// in start order; each goes to the free machine (reset done, uses left) that freed most
// recently when the idle gap s − end_prev is no longer than bootS + teardownS (the cost of
// replacing it), else to a fresh machine. With resetS = bootS, as in sandfleet, reuse is never
// cheaper than replacement by more than the teardown, and the total is essentially
// Σ (bootS + r) + teardown per machine: a lower bound for any policy, whatever its waits.
export interface OracleTask {
  startS: number;
  runS: number;
}

export interface OracleSettings {
  bootS: number;
  /** Between two tasks on one machine (reimage); 0 for a machine reused as is. */
  resetS: number;
  teardownS: number;
  /** Tasks per machine before it is retired (the pool's max_uses); null: unlimited. */
  maxUses: number | null;
}

export interface OracleResult {
  machineMinutes: number;
  machines: number;
}

interface Machine {
  lastEnd: number;
  uses: number;
}

export function oracle(tasks: readonly OracleTask[], settings: OracleSettings): OracleResult {
  const { bootS, resetS, teardownS, maxUses } = settings;
  const sorted = [...tasks].sort((a, b) => a.startS - b.startS);
  const machines: Machine[] = [];
  let seconds = 0;
  for (const task of sorted) {
    let best: Machine | undefined;
    for (const m of machines) {
      if (maxUses !== null && m.uses >= maxUses) continue;
      if (m.lastEnd + resetS > task.startS) continue;
      if (task.startS - m.lastEnd > bootS + teardownS) continue;
      if (!best || m.lastEnd > best.lastEnd) best = m;
    }
    if (best) {
      seconds += task.startS - best.lastEnd + task.runS;
      best.lastEnd = task.startS + task.runS;
      best.uses++;
    } else {
      seconds += bootS + task.runS + teardownS;
      machines.push({ lastEnd: task.startS + task.runS, uses: 1 });
    }
  }
  return { machineMinutes: seconds / 60, machines: machines.length };
}
