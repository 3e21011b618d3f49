// The values of the daemon's secrets, kept out of what analyses hand back. An analysis cannot
// read the daemon's credentials from its environment (runners/environment.ts), but a command on
// the daemon's host may still find them (/proc/<pid>/environ, the same user's files): whatever a
// run returns, its result and its error, is redacted of every such value before it is stored or
// logged.
import { isSecretVariable } from './runners/environment.js';

/** Shorter values are not redacted: a two-letter password would blank every word holding its letters. */
const MIN_SECRET_LENGTH = 6;
export const REDACTED = '[redacted]';

export class SecretRedactor {
  private readonly secrets: string[];

  constructor(values: Iterable<string>) {
    // Longest first, so a secret that contains another is replaced whole.
    this.secrets = [...new Set([...values].filter((v) => v.length >= MIN_SECRET_LENGTH))].sort((a, b) => b.length - a.length);
  }

  /** The secrets in the daemon's environment: every credential-named variable, and the password in any URL. */
  static fromEnvironment(env: NodeJS.ProcessEnv): SecretRedactor {
    const values: string[] = [];
    for (const [name, value] of Object.entries(env)) {
      if (!value) continue;
      if (isSecretVariable(name)) values.push(value);
      values.push(...urlPasswords(value));
    }
    return new SecretRedactor(values);
  }

  text(value: string): string {
    let out = value;
    for (const secret of this.secrets) if (out.includes(secret)) out = out.replaceAll(secret, REDACTED);
    return out;
  }

  /** A JSON value with every string in it, keys included, redacted. */
  json(value: unknown): unknown {
    if (typeof value === 'string') return this.text(value);
    if (Array.isArray(value)) return value.map((v) => this.json(v));
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [this.text(k), this.json(v)]));
    return value;
  }
}

/** The password of a URL-shaped value, as written and decoded. */
function urlPasswords(value: string): string[] {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value.trim())) return [];
  try {
    const { password } = new URL(value.trim());
    return password ? [password, decodeURIComponent(password)] : [];
  } catch {
    return [];
  }
}
