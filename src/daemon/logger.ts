// The daemon's pino logger: JSON lines, never a bearer token or a password (redacted by path,
// and URLs are logged only after redactUrl).
import pino, { type Logger } from 'pino';

export function createLogger(level: string, base: Record<string, unknown>, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'sandfleet', ...base },
    redact: { paths: ['req.headers.authorization', 'headers.authorization', '*.authorization', 'token', '*.token', 'password', '*.password'], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}
