// `sandfleet tokens create|ls|revoke`: straight against the database (how the first token is made).
import { InvalidArgumentError, type Command } from 'commander';
import { TOKEN_ROLES, type TokenRole } from '../../db/states.js';
import { createToken, listTokens, parseLifetime, revokeToken } from '../../scheduler/service/tokens.js';
import { tenantDefinition } from '../../config/load.js';
import { syncTenants } from '../../machinery/index.js';
import { withContext } from '../context.js';
import { emit, printTable } from '../output.js';
import { morePages, readPages, withPaging, type PagingOptions } from '../paging.js';
import { resolveTokenId } from '../../scheduler/service/id-prefix.js';
import { idPrefix, oneOf } from './arguments.js';

export function registerTokens(program: Command, config: () => string | undefined): void {
  const tokens = program.command('tokens').description('API bearer tokens');
  tokens
    .command('create')
    .description('create a token; it is shown once, only its hash is stored')
    .requiredOption('--role <role>', TOKEN_ROLES.join('|'), oneOf(TOKEN_ROLES))
    .option('--name <name>', 'what the token is for', 'cli')
    .option('--tenant <name>', 'whose work it submits and (a submitter) sees; declared under tenants: in the config (default: default)')
    .option('--expires-in <duration>', 'expire after this long: 30d, 12h, 90m (at least 1 minute); default never', lifetime)
    .option('--json', 'print JSON')
    .action((o: { role: TokenRole; name: string; tenant?: string; expiresIn?: number; json?: boolean }) =>
      withContext(config(), async ({ database, config: loaded }) => {
        // The config's tenants reach the table here too, so a token can be made before the daemon first starts.
        if (loaded) await syncTenants(database.db, loaded.tenants.map(tenantDefinition));
        const { token, view } = await createToken(database.db, { name: o.name, role: o.role, tenant: o.tenant, expiresInS: o.expiresIn });
        emit(o, { ...view, token }, () => {
          console.log(token);
          process.stderr.write(`token ${view.id} (${view.role}, tenant ${view.tenant}) created; it is not shown again\n`);
        });
      }),
    );
  withPaging(tokens.command('ls').description('list tokens, oldest first (never their secrets)'))
    .option('--json', 'print JSON ({ items, next_cursor })')
    .action((o: { json?: boolean } & PagingOptions) =>
      withContext(config(), async ({ database }) => {
        const page = await readPages(o, (p) => listTokens(database.db, p));
        emit(o, page, () => {
          printTable(page.items as unknown as Record<string, unknown>[], ['id', 'name', 'role', 'tenant', 'created_at', 'last_used_at', 'expires_at', 'revoked_at']);
          morePages(page);
        });
      }),
    );
  tokens
    .command('revoke')
    .description('revoke a token at once')
    .argument('<id>', 'token id, or its first 8 or more characters', idPrefix)
    .option('--json', 'print JSON')
    .action((prefix: string, o: { json?: boolean }) =>
      withContext(config(), async ({ database }) => {
        const view = await revokeToken(database.db, await resolveTokenId(database.db, prefix));
        emit(o, view, () => console.log(`token ${view.id} revoked`));
      }),
    );
}

function lifetime(value: string): number {
  const seconds = parseLifetime(value);
  if (seconds === null) throw new InvalidArgumentError(`expected a duration such as 30d, 12h or 90m, from 1 minute to 10 years; got "${value}"`);
  return seconds;
}
