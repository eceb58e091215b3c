import { ConfigError, loadConfig } from '../config/config.schema';
import { ensureDatabaseExists, runMigrationsLocked } from '../database/database-bootstrap';

/** `npm run migrate`: creates the database if needed and applies pending migrations. */
async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const name = new URL(config.database.url).pathname.slice(1);
  if (await ensureDatabaseExists(config.database.url)) process.stdout.write(`created database ${name}\n`);
  const applied = await runMigrationsLocked(config.database.url);
  process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : `database ${name} is up to date\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`migrate: ${e instanceof ConfigError || e instanceof Error ? e.message : String(e)}\n`);
  process.exit(e instanceof ConfigError ? 2 : 1);
});
