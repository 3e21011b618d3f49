// The `sandfleet` command line. Exit codes: 0 success, 1 a failed operation, 2 bad usage.
import { Command, CommanderError } from 'commander';
import { databaseUrlFromEnv, DatabaseUnavailableError, migrateDatabase, openDatabase, redactUrl } from '../db/index.js';
import { migrateQueueSchema } from '../scheduler/queue.js';

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.ok;
  const program = new Command('sandfleet')
    .description('Pools of disposable analysis machines on AWS EC2 and Azure VM scale sets, kept consistent in Postgres.')
    .exitOverride()
    .showHelpAfterError();

  program
    .command('migrate')
    .description('create the database if missing and apply all migrations (safe to run concurrently)')
    .option('--json', 'print the result as JSON')
    .action(async (options: { json?: boolean }) => {
      const url = databaseUrlFromEnv();
      await migrateDatabase({ url });
      // BullMQ's tables (schema bullmq) for the default PostgreSQL queue backend.
      const database = openDatabase({ url, max: 1 });
      try {
        await migrateQueueSchema(database);
      } finally {
        await database.close();
      }
      if (options.json) console.log(JSON.stringify({ ok: true, database: redactUrl(url) }));
      else console.log(`migrated ${redactUrl(url)}`);
    });

  try {
    await program.parseAsync(argv);
  } catch (error) {
    code = exitCodeFor(error);
  }
  return code;
}

function exitCodeFor(error: unknown): number {
  if (error instanceof CommanderError) {
    // --help and --version end through here too, successfully.
    return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (error instanceof DatabaseUnavailableError) {
    console.error(`sandfleet: ${error.message}`);
    return EXIT.failed;
  }
  console.error(`sandfleet: ${error instanceof Error ? error.message : String(error)}`);
  return EXIT.failed;
}
