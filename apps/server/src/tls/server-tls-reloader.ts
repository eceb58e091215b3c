import { createHash, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { Logger, type LoggerService } from '@nestjs/common';
import { checkTlsBundle } from '@certctl/pki';
import type { Counter } from 'prom-client';
import type { AppConfig } from '../config/config.schema';
import { resolveServerTls, serverTlsOptions, type ServerTls } from './server-tls';

/** What the reloader needs of the listening HTTPS server (a node:https Server). */
export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void;
}

interface Pair {
  key: string;
  cert: string;
}

/** What is on disk now: a pair to compare with the served one, or why it cannot be read. */
type Candidate = { pair: Pair; what: string; note?: string } | { problem: string; identity: string };

export type ReloadOutcome = 'unchanged' | 'reloaded' | 'rejected';

export interface ServerTlsReloaderOptions {
  config: AppConfig;
  server: SecureContextTarget;
  /** The pair the listener was started with (resolveServerTls at boot). */
  initial: Pair;
  /** certctl_server_tls_reloads_total (MetricsService.serverTlsReloads). */
  reloads: Pick<Counter<'result'>, 'inc'>;
  logger?: Pick<LoggerService, 'log' | 'warn'>;
  /** The generated bundle's re-issue check; the boot's own logic (tests replace it). */
  resolveGenerated?: (config: AppConfig) => Promise<ServerTls>;
}

/**
 * Hot reload of the listener's certificate, so a renewal (cert-manager rewriting the mounted
 * Secret, an operator replacing the files) is served without a restart. Every
 * CERTCTL_SERVER_TLS_RELOAD_INTERVAL the configured files are read again; a changed pair
 * that passes the boot's checks (key matches, valid now, accepted by OpenSSL) replaces the
 * secure context for new connections, with the same TLS options as at boot. A changed pair
 * that does not is rejected: the previous certificate stays, a warning names the files and
 * the problem once per distinct content (a rotation caught half-way fixes itself on the next
 * tick), and each rejected check is counted. Without configured files the generated bundle's
 * re-issue check (resolveServerTls) runs instead, so a long-running server re-issues its leaf
 * before it expires. Each replica watches its own files: nothing is shared.
 */
export class ServerTlsReloader {
  private served: Pair;
  /** Identity of the unusable content last warned about (once per distinct content). */
  private warnedFor?: string;
  private timer?: NodeJS.Timeout;
  private running = false;
  private readonly logger: Pick<LoggerService, 'log' | 'warn'>;

  constructor(private readonly opts: ServerTlsReloaderOptions) {
    this.served = { key: opts.initial.key, cert: opts.initial.cert };
    this.logger = opts.logger ?? new Logger('ServerTls');
  }

  /** Starts the periodic check (nothing when the interval is 0). */
  start(): void {
    if (this.running || this.opts.config.server.tlsReloadIntervalMs <= 0) return;
    this.running = true;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
  }

  /** One check: reads what is on disk and swaps the secure context when it changed and is usable. */
  async check(): Promise<ReloadOutcome> {
    const candidate = await this.readCandidate();
    if ('problem' in candidate) return this.reject(candidate.problem, candidate.identity);
    const { pair } = candidate;
    if (pair.cert === this.served.cert && pair.key === this.served.key) {
      this.warnedFor = undefined;
      return 'unchanged';
    }
    let options: SecureContextOptions;
    try {
      checkTlsBundle(pair.cert, pair.key);
      options = serverTlsOptions(this.opts.config, pair);
      // OpenSSL's own verdict before the swap (setSecureContext would throw half-way).
      createSecureContext(options);
    } catch (e) {
      return this.reject(`${candidate.what} changed but cannot be served: ${(e as Error).message}`, digest(pair));
    }
    this.opts.server.setSecureContext(options);
    this.served = pair;
    this.warnedFor = undefined;
    this.opts.reloads.inc({ result: 'reloaded' });
    this.logger.log(`reloaded ${candidate.what}: now serving ${describe(pair.cert)}`);
    if (candidate.note) this.logger.warn(candidate.note);
    return 'reloaded';
  }

  private schedule(): void {
    this.timer = setTimeout(() => void this.tick(), this.opts.config.server.tlsReloadIntervalMs);
    // Never what keeps the process alive (shutdown closes the listener, then exits).
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      await this.check();
    } catch (e) {
      // Never crash the server over its certificate: keep serving, try again next tick.
      this.reject(`TLS certificate reload failed: ${(e as Error).message}`, `error:${(e as Error).message}`);
    } finally {
      if (this.running) this.schedule();
    }
  }

  private reject(problem: string, identity: string): 'rejected' {
    this.opts.reloads.inc({ result: 'rejected' });
    if (this.warnedFor !== identity) {
      this.warnedFor = identity;
      this.logger.warn(`${problem}; still serving ${describe(this.served.cert)}`);
    }
    return 'rejected';
  }

  private async readCandidate(): Promise<Candidate> {
    const { config } = this.opts;
    const { tlsCertPath, tlsKeyPath } = config.server;
    if (tlsCertPath && tlsKeyPath) {
      const [cert, key] = await Promise.allSettled([readFile(tlsCertPath, 'utf8'), readFile(tlsKeyPath, 'utf8')]);
      for (const [result, variable, path] of [
        [cert, 'CERTCTL_SERVER_TLS_CERT_PATH', tlsCertPath],
        [key, 'CERTCTL_SERVER_TLS_KEY_PATH', tlsKeyPath],
      ] as const) {
        if (result.status === 'rejected') {
          const err = result.reason as NodeJS.ErrnoException;
          return {
            problem: `TLS file ${variable}=${path} cannot be read: ${err.message}`,
            identity: `unreadable:${path}:${err.code ?? err.message}`,
          };
        }
      }
      return {
        pair: {
          cert: (cert as PromiseFulfilledResult<string>).value,
          key: (key as PromiseFulfilledResult<string>).value,
        },
        what: `TLS certificate ${tlsCertPath} with key ${tlsKeyPath}`,
      };
    }
    // Generated bundle: the boot's own logic re-issues the leaf (same CA) when it nears expiry.
    const dir = resolve(config.dataDir, 'tls');
    try {
      const tls = await (this.opts.resolveGenerated ?? resolveServerTls)(config);
      return {
        pair: { cert: tls.cert, key: tls.key },
        what: `generated TLS certificate ${join(dir, 'server.pem')} (${tls.source})`,
        note:
          tls.source === 'generated'
            ? `the generated TLS CA was replaced: clients must trust the new ${tls.caFile ?? join(dir, 'ca.pem')}`
            : undefined,
      };
    } catch (e) {
      const message = (e as Error).message;
      return { problem: `re-issuing the generated TLS certificate in ${dir} failed: ${message}`, identity: message };
    }
  }
}

function digest(pair: Pair): string {
  return createHash('sha256').update(pair.cert).update('\0').update(pair.key).digest('hex');
}

/** subject, serial and notAfter of the first certificate of a PEM chain, for the logs. */
function describe(certPem: string): string {
  try {
    const c = new X509Certificate(certPem);
    return `subject "${c.subject.replace(/\n/g, ', ')}", serial ${c.serialNumber}, notAfter ${new Date(c.validTo).toISOString()}`;
  } catch {
    return 'a certificate that cannot be parsed';
  }
}
