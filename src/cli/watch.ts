// `--watch`: a command's output again every interval until SIGINT or SIGTERM, which end it with
// exit 0. On a terminal each snapshot replaces the last (cursor home, clear below, as watch(1)
// does); into a pipe or file each follows the last after a blank line, under a line saying when
// it was taken, so a log of them reads in order.
import { clearScreenDown, cursorTo } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

export interface WatchOptions {
  intervalS: number;
  /** What the snapshots are of, for the header line (`sandfleet pools ls`). */
  title: string;
  /** One JSON line per snapshot instead of text (JSON Lines). */
  json: boolean;
  out?: NodeJS.WriteStream;
}

export async function watch(options: WatchOptions, snapshot: () => Promise<{ text: () => string; value: unknown }>): Promise<void> {
  const out = options.out ?? process.stdout;
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (let first = true; !stop.signal.aborted; first = false) {
      const taken = await snapshot();
      if (stop.signal.aborted) break;
      if (options.json) {
        out.write(`${JSON.stringify(taken.value)}\n`);
      } else {
        const header = `every ${options.intervalS}s: ${options.title}    ${new Date().toISOString()}`;
        if (out.isTTY) {
          cursorTo(out, 0, 0);
          clearScreenDown(out);
        } else if (!first) {
          out.write('\n');
        }
        out.write(`${header}\n\n${taken.text()}\n`);
      }
      await sleep(options.intervalS * 1000, undefined, { signal: stop.signal }).catch(() => {});
    }
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}
