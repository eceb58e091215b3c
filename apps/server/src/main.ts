import type { Server } from 'node:https';
import { resolve } from 'node:path';
import { AuthService } from './auth/auth.service';
import { ConfigError, loadConfig } from './config/config.schema';
import { ensureDatabaseExists, runMigrationsLocked } from './database/database-bootstrap';
import { servesApi } from './role/process-role';
import { dataDirEncryptionKey, KeyFileError } from './secrets/key-file';
import { SecretDecryptError, SecretKeyMissingError } from './secrets/secret-box';
import { MetricsService } from './metrics/metrics.service';
import { createServerApp, hardenServer } from './server-app';
import { resolveServerTls, TlsConfigError } from './tls/server-tls';
import { ServerTlsReloader } from './tls/server-tls-reloader';

function fail(message: string): never {
  process.stderr.write(`certctl: ${message}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const env = { ...process.env };
  let keyNote: string | undefined;
  if (!env.CERTCTL_CONFIG_ENCRYPTION_KEY) {
    // Single node quick start: a generated key in the data directory (see key-file.ts).
    try {
      const k = await dataDirEncryptionKey(env.CERTCTL_DATA_DIR?.trim() || './data');
      env.CERTCTL_CONFIG_ENCRYPTION_KEY = k.key;
      keyNote = `${k.created ? 'generated' : 'using'} ${resolve(k.path)} as CERTCTL_CONFIG_ENCRYPTION_KEY (single node only: set CERTCTL_CONFIG_ENCRYPTION_KEY on every replica in production, and back it up)`;
    } catch (e) {
      if (e instanceof KeyFileError) fail(`${e.message} (or set CERTCTL_CONFIG_ENCRYPTION_KEY)`);
      throw e;
    }
  }
  let config;
  try {
    config = loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message);
    throw e;
  }
  let tls;
  try {
    tls = await resolveServerTls(config);
  } catch (e) {
    if (e instanceof TlsConfigError) fail(e.message);
    throw e;
  }

  try {
    if (await ensureDatabaseExists(config.database.url)) log(`created database ${dbName(config.database.url)}`);
    const applied = await runMigrationsLocked(config.database.url);
    if (applied.length) log(`applied migrations: ${applied.join(', ')}`);
  } catch (e) {
    fail(`database ${dbName(config.database.url)} is not usable: ${(e as Error).message}`);
  }

  if (keyNote) log(keyNote);
  const app = await createServerApp(config, tls);
  hardenServer(app);
  // SIGTERM/SIGINT: close the listener, drain queue workers and audit writes, then exit 0
  // (useProcessExit also lets the async logger flush).
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  try {
    await app.listen(config.server.port, config.server.host);
  } catch (e) {
    if (e instanceof SecretKeyMissingError || e instanceof SecretDecryptError || e instanceof ConfigError) {
      fail(e.message);
    }
    throw e;
  }
  // Renewed certificates (cert-manager, operator, the generated bundle's re-issue) are served
  // without a restart, on every role: workers serve HTTPS too.
  const server = app.getHttpServer() as Server;
  const reloader = new ServerTlsReloader({
    config,
    server,
    initial: tls,
    reloads: app.get(MetricsService).serverTlsReloads,
  });
  reloader.start();
  server.once('close', () => reloader.stop());

  const host = config.server.host === '0.0.0.0' || config.server.host === '::' ? 'localhost' : config.server.host;
  const base = `https://${host.includes(':') ? `[${host}]` : host}:${config.server.port}`;
  if (!servesApi(config.role)) {
    // No API here: the initial admin key is minted and shown by an api (or all) replica.
    process.stdout.write(`\ncertctl worker listening on ${base} (/health, /ready and metrics only)\n\n`);
    return;
  }
  const lines = [`certctl server listening on ${base}`, `  Swagger UI:   ${base}/api/docs`];
  if (tls.caFile) {
    lines.push(
      `  TLS CA file:  ${resolve(tls.caFile)}  (self-signed; curl --cacert ${resolve(tls.caFile)} ${base}/health)`,
    );
  }
  const minted = await app.get(AuthService).mintInitialAdminKeyIfFresh();
  if (minted) {
    lines.push(
      '',
      '  Initial admin API key (shown once; store it now):',
      `    ${minted.key}`,
      `  curl${tls.caFile ? ` --cacert ${resolve(tls.caFile)}` : ''} -H "Authorization: Bearer ${minted.key}" ${base}/api/v1/auth/me`,
    );
  }
  process.stdout.write(`\n${lines.join('\n')}\n\n`);
}

function log(msg: string): void {
  process.stdout.write(`certctl: ${msg}\n`);
}

function dbName(url: string): string {
  return new URL(url).pathname.slice(1);
}

main().catch((e: unknown) => {
  process.stderr.write(`certctl: fatal: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
