import type { Server } from 'node:https';
import { resolve } from 'node:path';
import { AuthService } from './auth/auth.service';
import { ConfigError, loadConfig } from './config/config.schema';
import { ensureDatabaseExists, runMigrationsLocked } from './database/database-bootstrap';
import { servesApi } from './role/process-role';
import { dataDirEncryptionKey, KeyFileError } from './secrets/key-file';
import { SecretDecryptError, SecretKeyMissingError } from './secrets/secret-box';
import { MetricsService } from './metrics/metrics.service';
import { createPkiHttpServer, createServerApp, hardenServer, PKI_HTTP_PREFIX } from './server-app';
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
  if (!config.pki.httpListener && config.pki.publicUrl?.startsWith('http://')) {
    // Allowed (a load balancer may serve plain HTTP in front of the HTTPS listener), but say so.
    log(
      `CERTCTL_PKI_PUBLIC_URL is http:// (${config.pki.publicUrl}) but CERTCTL_PKI_HTTP_PORT is unset: something in front must serve ${PKI_HTTP_PREFIX}* over plain HTTP`,
    );
  }
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

  const base = `https://${displayHost(config.server.host)}:${config.server.port}`;
  if (!servesApi(config.role)) {
    // No API here: the initial admin key is minted and shown by an api (or all) replica.
    process.stdout.write(`\ncertctl worker listening on ${base} (/health, /ready and metrics only)\n\n`);
    return;
  }
  // Plain-HTTP CRL/OCSP/CA-certificate listener (CERTCTL_PKI_HTTP_PORT): api and all roles only.
  const listener = config.pki.httpListener;
  let pkiBase: string | undefined;
  if (listener) {
    const pki = createPkiHttpServer(app);
    try {
      await new Promise<void>((ok, ko) => {
        pki.once('error', ko);
        pki.listen(listener.port, listener.host, () => {
          pki.off('error', ko);
          ok();
        });
      });
    } catch (e) {
      fail(`CERTCTL_PKI_HTTP_PORT: cannot listen on ${listener.host}:${listener.port}: ${(e as Error).message}`);
    }
    // Closed with the HTTPS listener on SIGTERM/SIGINT (enableShutdownHooks) and on app.close().
    let closed = false;
    const closePki = () => {
      if (closed) return;
      closed = true;
      pki.close();
      pki.closeIdleConnections();
    };
    process.once('SIGTERM', closePki);
    process.once('SIGINT', closePki);
    server.once('close', closePki);
    pkiBase = `http://${displayHost(listener.host)}:${listener.port}`;
  }
  const lines = [`certctl server listening on ${base}`, `  Swagger UI:   ${base}/api/docs`];
  if (pkiBase) lines.push(`  PKI (HTTP):   ${pkiBase}${PKI_HTTP_PREFIX} (CRLs, OCSP, CA certificates only)`);
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

/** A host for URLs printed at boot: wildcard binds become localhost, IPv6 gets brackets. */
function displayHost(bind: string): string {
  const host = bind === '0.0.0.0' || bind === '::' ? 'localhost' : bind;
  return host.includes(':') ? `[${host}]` : host;
}

function dbName(url: string): string {
  return new URL(url).pathname.slice(1);
}

main().catch((e: unknown) => {
  process.stderr.write(`certctl: fatal: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
