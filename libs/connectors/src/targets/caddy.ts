import { TargetType } from '@certctl/domain';
import type { ConfigObject } from '../config/spec';
import { CERT_FILE_MODE, KEY_FILE_MODE, deployFiles } from './deploy-files';
import { httpExchange } from './http-exchange';
import { joinPem, parseTargetConfig } from './pem-file-targets';
import { caddyConfig } from './target-configs';
import {
  DeployError,
  type DeployContext,
  type DeployMaterial,
  type DeployResult,
  type TargetConnector,
  type VerifyEndpoint,
} from './target-port';
import { verifyEndpointFrom } from './verify-endpoint';

/**
 * Reload used in file mode when reload_command is absent: what the Debian/upstream systemd
 * unit's `systemctl reload caddy` runs. `--force` matters: Caddy skips a reload whose
 * configuration text is unchanged, and a certificate rotation does not change it.
 */
export const CADDY_DEFAULT_RELOAD = ['caddy', 'reload', '--config', '/etc/caddy/Caddyfile', '--force'] as const;

/** Tag of the `load_pem` entry a target owns in Caddy's configuration (one entry per target). */
export function caddyTag(targetId: string): string {
  return `certctl-${targetId}`;
}

const ADMIN_TIMEOUT_MS = 30_000;
/** Bound on what is read from the admin API (a full config with many certificates stays far below). */
const MAX_ADMIN_RESPONSE = 16 * 1024 * 1024;
/** Attempts when another client changes the configuration between our read and our write. */
const ADMIN_ATTEMPTS = 3;

interface AdminResponse {
  status: number;
  body: string;
  etag?: string;
}

/**
 * One request to the admin API over plain HTTP (Caddy's admin endpoint is loopback HTTP).
 * node:http rather than fetch: Caddy 2.6 sends the config ETag as an HTTP trailer, which
 * fetch does not expose.
 */
async function adminRequest(
  url: URL,
  method: 'GET' | 'POST',
  opts: { body?: string; ifMatch?: string; signal?: AbortSignal },
): Promise<AdminResponse> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = String(Buffer.byteLength(opts.body));
  }
  if (opts.ifMatch !== undefined) headers['If-Match'] = opts.ifMatch;
  // A new connection per request: Caddy restarts its admin server when a configuration is
  // applied, so a kept-alive socket would be closed under us.
  const res = await httpExchange(
    url,
    { method, headers, signal: opts.signal, timeoutMs: ADMIN_TIMEOUT_MS, maxBytes: MAX_ADMIN_RESPONSE },
    opts.body,
  );
  const etag = res.headers.etag ?? res.trailers.etag;
  return { status: res.status, body: res.body.toString('utf8'), etag };
}

/** `<admin_url>/config/`, keeping a path prefix (an admin API behind a proxy). */
function configUrl(adminUrl: string): URL {
  const u = new URL(adminUrl);
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/config/`;
  u.search = '';
  u.hash = '';
  return u;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

interface LoadPemEntry {
  certificate: string;
  key: string;
  tags: string[];
}

/**
 * The configuration with this target's `apps.tls.certificates.load_pem` entry replaced by
 * `entry` (every other entry and setting kept), or `undefined` when it already holds
 * exactly that entry.
 */
export function withCaddyCertificate(config: unknown, entry: LoadPemEntry): Record<string, unknown> | undefined {
  const tag = entry.tags[0];
  const root = config === null ? {} : config;
  if (!isObject(root)) throw new Error('the configuration is not a JSON object');
  const next = structuredClone(root);
  const child = (parent: Record<string, unknown>, key: string, where: string): Record<string, unknown> => {
    const v = parent[key] ?? {};
    if (!isObject(v)) throw new Error(`${where} is not an object`);
    parent[key] = v;
    return v;
  };
  const certificates = child(
    child(child(next, 'apps', 'apps'), 'tls', 'apps.tls'),
    'certificates',
    'apps.tls.certificates',
  );
  const existing: unknown = certificates.load_pem ?? [];
  if (!Array.isArray(existing)) throw new Error('apps.tls.certificates.load_pem is not an array');
  const entries: unknown[] = existing;
  const ours = (e: unknown) => isObject(e) && Array.isArray(e.tags) && e.tags.includes(tag);
  const mine = entries.filter(ours);
  if (
    mine.length === 1 &&
    isObject(mine[0]) &&
    mine[0].certificate === entry.certificate &&
    mine[0].key === entry.key
  ) {
    return undefined;
  }
  certificates.load_pem = [...entries.filter((e) => !ours(e)), entry];
  return next;
}

function remoteError(message: string): DeployError {
  // Caddy applies a configuration all at once or not at all: a refused change leaves the old one running.
  return new DeployError(message, 'remote', true);
}

function caddyErrorText(body: string): string {
  try {
    const parsed: unknown = JSON.parse(body);
    if (isObject(parsed) && typeof parsed.error === 'string') return parsed.error.slice(0, 2000);
  } catch {
    // not JSON: fall through
  }
  return body.trim().slice(0, 2000);
}

/**
 * Admin API mode: reads the running configuration (GET /config/ with its ETag), puts the
 * certificate and key into `apps.tls.certificates.load_pem` under this target's tag, and
 * posts the whole configuration back to /config/ with If-Match. Caddy validates and
 * switches to the new configuration atomically (a refused one leaves the old running);
 * a 412 (someone else changed the configuration meanwhile) re-reads and retries. Caddy
 * keeps a config changed this way across restarts only with `caddy run --resume`.
 */
async function deployThroughAdminApi(adminUrl: string, m: DeployMaterial, ctx: DeployContext): Promise<DeployResult> {
  const log = ctx.log ?? (() => undefined);
  const url = configUrl(adminUrl);
  const entry: LoadPemEntry = {
    certificate: joinPem(m.certPem, m.chainPem),
    key: joinPem(m.keyPem),
    tags: [caddyTag(ctx.targetId)],
  };
  const where = `${url.origin}${url.pathname}apps/tls/certificates/load_pem`;
  const call = async (method: 'GET' | 'POST', opts: { body?: string; ifMatch?: string }) => {
    try {
      return await adminRequest(url, method, { ...opts, signal: ctx.signal });
    } catch (e) {
      throw remoteError(`cannot reach the Caddy admin API at ${url.origin}: ${(e as Error).message}`);
    }
  };

  for (let attempt = 1; attempt <= ADMIN_ATTEMPTS; attempt++) {
    const current = await call('GET', {});
    if (current.status !== 200) {
      throw remoteError(`GET ${url.pathname} answered HTTP ${current.status}: ${caddyErrorText(current.body)}`);
    }
    let next: Record<string, unknown> | undefined;
    try {
      next = withCaddyCertificate(JSON.parse(current.body), entry);
    } catch (e) {
      throw remoteError(`cannot use the running Caddy configuration: ${(e as Error).message}`);
    }
    if (next === undefined) {
      const message = 'Caddy already holds this certificate and key; nothing changed';
      log(message);
      return { changed: false, written: [], validated: false, reloaded: false, message };
    }
    const posted = await call('POST', { body: JSON.stringify(next), ifMatch: current.etag });
    if (posted.status === 412 && attempt < ADMIN_ATTEMPTS) {
      log('the Caddy configuration changed while deploying; reading it again');
      continue;
    }
    if (posted.status < 200 || posted.status > 299) {
      throw remoteError(`Caddy refused the new configuration (HTTP ${posted.status}): ${caddyErrorText(posted.body)}`);
    }
    const message = `loaded the certificate into Caddy through its admin API (tag ${entry.tags[0]})`;
    log(message);
    return { changed: true, written: [where], validated: true, reloaded: true, message };
  }
  throw remoteError('the Caddy configuration kept changing during the deployment');
}

/**
 * Caddy, in one of two modes:
 * - `file`: the certificate with its chain (Caddy's `tls <cert> <key>` expects the full
 *   chain in the certificate file) and the key (0600), atomically, then reload_command
 *   (default CADDY_DEFAULT_RELOAD); a failed reload restores both files and reloads again.
 * - `admin_api`: no files; the certificate and key are loaded into the running Caddy
 *   through its admin API (see deployThroughAdminApi).
 */
export const caddyConnector: TargetConnector = {
  type: TargetType.Caddy,

  async deploy(material: DeployMaterial, ctx: DeployContext): Promise<DeployResult> {
    const c = parseTargetConfig(TargetType.Caddy, caddyConfig, ctx.config);
    if (c.mode === 'admin_api') {
      if (c.admin_url === undefined) throw new DeployError('admin_url: is required for mode admin_api', 'write', true);
      return deployThroughAdminApi(c.admin_url, material, ctx);
    }
    if (c.cert_path === undefined || c.key_path === undefined) {
      throw new DeployError('cert_path and key_path: are required for mode file', 'write', true);
    }
    return deployFiles({
      files: [
        { path: c.cert_path, bytes: joinPem(material.certPem, material.chainPem), mode: CERT_FILE_MODE },
        { path: c.key_path, bytes: joinPem(material.keyPem), mode: KEY_FILE_MODE },
      ],
      reload: c.reload_command ?? CADDY_DEFAULT_RELOAD,
      log: ctx.log,
      signal: ctx.signal,
    });
  },

  verifyEndpoint(config: ConfigObject): VerifyEndpoint | undefined {
    return verifyEndpointFrom(config);
  },
};
