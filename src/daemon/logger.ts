// The daemon's pino logger: JSON lines (or pino-pretty's lines for a person at a terminal),
// never a bearer token or a password (redacted by path, and URLs are logged only after
// redactUrl), nor a value bound to a failed statement.
import pino, { type Logger } from 'pino';
import { withoutValues } from '../db/errors.js';

/**
 * Log bytes held while stdout is not being read. Past this, lines are dropped and counted on
 * stderr instead of growing the heap: a daemon whose log reader stalls (a slow pipe, a busy
 * collector) under a burst of lines died of a 4 GB heap at 10,000 machines.
 */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
const DROP_NOTICE_EVERY_MS = 60_000;

export function createLogger(level: string, base: Record<string, unknown>, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'sandfleet', ...base },
    redact: { paths: ['req.headers.authorization', 'headers.authorization', '*.authorization', 'token', '*.token', 'password', '*.password'], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { err: (error: unknown) => (error instanceof Error ? pino.stdSerializers.err(withoutValues(error) as Error) : error) },
  };
  return pino(options, destination ?? boundedStdout());
}

/** stdout, written asynchronously, holding at most MAX_BUFFERED_BYTES. */
export function boundedStdout(maxBytes = MAX_BUFFERED_BYTES, notice: (text: string) => void = (text) => process.stderr.write(text)): pino.DestinationStream & NodeJS.EventEmitter {
  const stream = pino.destination({ dest: 1, sync: false, maxLength: maxBytes });
  let dropped = 0;
  let noticedAt = -Infinity;
  stream.on('drop', () => {
    dropped++;
    if (performance.now() - noticedAt < DROP_NOTICE_EVERY_MS) return;
    noticedAt = performance.now();
    notice(`sandfleet: ${dropped} log line(s) dropped so far: stdout is not read as fast as the daemon writes it\n`);
  });
  return stream;
}

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Pretty for a person watching the log at a terminal, JSON for whatever reads a pipe or a file. */
export function defaultLogFormat(stream: { isTTY?: boolean } = process.stdout): LogFormat {
  return stream.isTTY === true ? 'pretty' : 'json';
}

/**
 * Where the lines go in the given format: bounded stdout either way. Pretty lines are made by
 * pino-pretty's formatter in this thread, line by line, so they leave (and are dropped under a
 * stalled reader) exactly as JSON lines do; loaded only when asked for.
 */
export async function logDestination(format: LogFormat): Promise<pino.DestinationStream> {
  const stdout = boundedStdout();
  if (format === 'json') return stdout;
  const { prettyFactory } = await import('pino-pretty');
  // Colours follow colorette's detection of stdout (NO_COLOR and FORCE_COLOR are honoured).
  const pretty = prettyFactory({ translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l', ignore: 'pid,hostname,service' });
  return { write: (line: string) => void stdout.write(pretty(line)) };
}
