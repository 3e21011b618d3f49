// The `sandfleet` command line. Exit codes: 0 success, 1 a failed operation, 2 bad usage.
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/load.js';
import { databaseUrlFromEnv, DatabaseUnavailableError, errorMessage, migrateDatabase, openDatabase, redactUrl } from '../db/index.js';
import { migrateQueueSchema } from '../scheduler/queue.js';
import { AmbiguousIdPrefix, InvalidCursor, MachineBusy, NotFound, UnknownTenant } from '../scheduler/service/errors.js';
import { IdempotencyConflict, TenantLimit, Unserviceable } from '../scheduler/submission.js';
import { CommandFailed } from './commands/arguments.js';
import { registerCheck } from './commands/check.js';
import { registerCompletion } from './commands/completion.js';
import { registerDaemon } from './commands/daemon.js';
import { registerDaemons } from './commands/daemons.js';
import { registerMachines } from './commands/machines.js';
import { registerSimAgents } from './commands/sim-agents.js';
import { registerTasks } from './commands/tasks.js';
import { registerTokens } from './commands/tokens.js';
import { optionalConfig } from './context.js';
import { jsonPrinted, printJson } from './output.js';
import { packageVersion, wantsJsonVersion } from './version.js';

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export async function main(argv: string[]): Promise<number> {
  const version = packageVersion();
  if (wantsJsonVersion(argv.slice(2))) {
    printJson({ version });
    return EXIT.ok;
  }
  const program = new Command('sandfleet')
    .description('Pools of disposable analysis machines on AWS EC2 and Azure VM scale sets, kept consistent in Postgres.')
    .version(version, '-V, --version', 'print the version (with --json: {"version": ...})')
    .option('-c, --config <file>', 'config file (default: $SANDFLEET_CONFIG or ./sandfleet.yaml)')
    .exitOverride()
    .showHelpAfterError();
  const config = () => program.opts<{ config?: string }>().config;
  // The command that ran, to know whether it was asked for JSON when it fails.
  let invoked: Command | undefined;
  program.hook('preAction', (_program, action) => {
    invoked = action;
  });

  program
    .command('migrate')
    .description('create the database if missing and apply all migrations (safe to run concurrently)')
    .option('--json', 'print the result as JSON')
    .action(async (options: { json?: boolean }) => {
      const url = optionalConfig(config())?.databaseUrl ?? databaseUrlFromEnv();
      await migrateDatabase({ url });
      // BullMQ's tables (schema bullmq) for the default PostgreSQL queue backend.
      const database = openDatabase({ url, max: 1 });
      try {
        await migrateQueueSchema(database);
      } finally {
        await database.close();
      }
      if (options.json) printJson({ ok: true, database: redactUrl(url) });
      else console.log(`migrated ${redactUrl(url)}`);
    });
  registerDaemon(program, config);
  registerTasks(program, config);
  registerMachines(program, config);
  registerDaemons(program, config);
  registerTokens(program, config);
  registerCheck(program, config);
  registerSimAgents(program, config);
  // Last: its scripts are generated from every command registered before it.
  registerCompletion(program);
  // Subcommands inherit exit handling, so their usage errors also end as exit code 2.
  const inherit = (command: Command) => {
    for (const sub of command.commands) {
      sub.exitOverride().showHelpAfterError();
      inherit(sub);
    }
  };
  inherit(program);

  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (error) {
    // Usage errors come before any action ran: then --json is looked for among the words.
    const json = invoked ? invoked.opts<{ json?: boolean }>().json === true : argv.slice(2).includes('--json');
    return exitCodeFor(error, json);
  }
}

function exitCodeFor(error: unknown, json: boolean): number {
  // With --json a script gets a JSON document on stdout on failure too, unless the command
  // already printed its own (`tasks wait`, `check`: the result, then the exit code).
  const report = (details: Record<string, unknown>) => {
    if (json && !jsonPrinted()) printJson({ ok: false, ...details });
  };
  if (error instanceof CommanderError) {
    // --help and --version end through here too, successfully; commander printed the usage error.
    if (error.exitCode === 0) return EXIT.ok;
    report({ error: error.message.replace(/^error: /, '') });
    return EXIT.usage;
  }
  const message = explain(error);
  console.error(`sandfleet: ${message}`);
  if (error instanceof AmbiguousIdPrefix) {
    report({ error: message, matches: error.matches });
    return EXIT.usage;
  }
  report(error instanceof ConfigError ? { error: message, source: error.source, errors: error.issues } : { error: message });
  return EXIT.failed;
}

/** What went wrong, and what to do next. */
function explain(error: unknown): string {
  if (error instanceof ConfigError || error instanceof DatabaseUnavailableError || error instanceof CommandFailed || error instanceof AmbiguousIdPrefix) return error.message;
  if (error instanceof NotFound || error instanceof MachineBusy || error instanceof InvalidCursor || error instanceof IdempotencyConflict || error instanceof Unserviceable) return error.message;
  if (error instanceof UnknownTenant || error instanceof TenantLimit) return error.message;
  // drizzle wraps driver errors ("Failed query: …"); the driver's code is on the cause.
  let e = error as { code?: string; message?: string; cause?: unknown };
  while (!e.code && e.cause) e = e.cause;
  if (e.code === 'ECONNREFUSED') return `cannot reach PostgreSQL (${e.message ?? ''}). Start it (for example \`pg_ctlcluster 15 main start\`) or set DATABASE_URL.`;
  if (e.code === '3D000') return `${e.message ?? 'the database does not exist'}: run \`sandfleet migrate\` (or start the daemon), which creates it.`;
  if (e.code === '42P01') return `${e.message ?? 'a table is missing'}: the database is not migrated; run \`sandfleet migrate\`.`;
  return errorMessage(error);
}
