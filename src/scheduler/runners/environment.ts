// What an analysis command sees of the daemon's environment. The command runs untrusted work on
// the daemon's own host, so it gets an allowlist: enough to run (PATH, HOME, LANG), the variables
// its pool names under `runner.env_passthrough`, and the task's SANDFLEET_* variables; never a
// credential of the daemon's, which a pool may not pass through either.

/** Passed to every command. */
const BASE_VARIABLES = ['PATH', 'HOME', 'LANG'] as const;

/** The daemon's own credentials, by the names it and the cloud SDKs' credential chains read them from. */
const DAEMON_SECRET_VARIABLES = new Set([
  'DATABASE_URL',
  'REDIS_URL',
  'PGPASSWORD',
  'PGPASSFILE',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AZURE_CLIENT_SECRET',
  'AZURE_CLIENT_CERTIFICATE_PATH',
  'AZURE_CLIENT_CERTIFICATE_PASSWORD',
  'AZURE_PASSWORD',
  'AZURE_FEDERATED_TOKEN_FILE',
  'IDENTITY_HEADER',
  'MSI_SECRET',
]);

/** Names that by convention hold a secret: GITHUB_TOKEN, ADMIN_PASSWORD, STRIPE_API_KEY, … */
const SECRET_NAME = /SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|PRIVATE|(^|_)(API_?)?KEY$/i;

/** A variable name as the shell writes it. */
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Whether a variable holds, or by its name would hold, a credential: never handed to an analysis. */
export function isSecretVariable(name: string): boolean {
  return DAEMON_SECRET_VARIABLES.has(name.toUpperCase()) || SECRET_NAME.test(name);
}

/** Why a pool may not pass this variable through, or null when it may. */
export function passthroughRefusal(name: string): string | null {
  if (!VARIABLE_NAME.test(name)) return `"${name}" is not a variable name`;
  if (name.startsWith('SANDFLEET_')) return `${name}: the SANDFLEET_* variables are the runner's own`;
  if (isSecretVariable(name)) return `${name} holds (or by its name would hold) a credential, which analyses never get; pass what the analysis needs under another name`;
  return null;
}

/** The command's whole environment: the allowlisted part of `source`, then the task's own variables. */
export function commandEnvironment(source: NodeJS.ProcessEnv, passthrough: readonly string[], own: Readonly<Record<string, string>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of [...BASE_VARIABLES, ...passthrough]) {
    const value = source[name];
    if (value !== undefined && passthroughRefusal(name) === null) env[name] = value;
  }
  return { ...env, ...own };
}
