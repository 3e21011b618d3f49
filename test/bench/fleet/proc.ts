// CPU time and resident memory from /proc, as `top` and `ps` would read them.
import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ, almost always 100). */
export const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

interface Stat {
  ppid: number;
  /** utime + stime */
  own: number;
  /** cutime + cstime: what its reaped children used. */
  children: number;
}

async function stat(pid: number): Promise<Stat | null> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: the fields start after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const n = (i: number) => Number(fields[i - 3]);
    return { ppid: n(4), own: n(14) + n(15), children: n(16) + n(17) };
  } catch {
    return null;
  }
}

/** CPU seconds a process has used so far (0 once it is gone). */
export async function processCpuSeconds(pid: number): Promise<number> {
  return ((await stat(pid))?.own ?? 0) / CLOCK_TICKS;
}

/**
 * CPU seconds of a process and all its children so far, including children that have exited
 * (the kernel adds a reaped child's time to its parent's cutime/cstime): PostgreSQL forks a
 * backend per connection, and connections come and go during a window.
 */
export async function treeCpuSeconds(parent: number): Promise<number> {
  const root = await stat(parent);
  if (!root) return 0;
  let ticks = root.own + root.children;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = await stat(Number(entry));
    if (s?.ppid === parent) ticks += s.own;
  }
  return ticks / CLOCK_TICKS;
}

/** VmRSS in MiB, or null once the process is gone. */
export async function rssMiB(pid: number): Promise<number | null> {
  try {
    const text = await readFile(`/proc/${pid}/status`, 'utf8');
    const kib = /^VmRSS:\s+(\d+) kB/m.exec(text)?.[1];
    return kib === undefined ? null : Number(kib) / 1024;
  } catch {
    return null;
  }
}

/** VmHWM (the largest RSS the process ever had) in MiB. */
export async function peakRssMiB(pid: number): Promise<number | null> {
  try {
    const text = await readFile(`/proc/${pid}/status`, 'utf8');
    const kib = /^VmHWM:\s+(\d+) kB/m.exec(text)?.[1];
    return kib === undefined ? null : Number(kib) / 1024;
  } catch {
    return null;
  }
}
