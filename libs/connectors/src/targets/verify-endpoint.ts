import { createHash, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { connect } from 'node:tls';
import { host, port } from '../config/fields';
import type { ConfigObject, RefineContext } from '../config/spec';
import type { VerifyEndpoint } from './target-port';

/**
 * Post-deployment verification, common to every target type: after a deployment the agent
 * opens a TLS connection here and compares the served certificate's SHA-256 fingerprint
 * with the one it deployed. Best effort: a mismatch is reported, never rolled back.
 */
export const verificationFields = {
  /** Host the agent connects to (usually the target host itself, e.g. 127.0.0.1). */
  verify_host: host().optional(),
  /** TLS port; default 443. */
  verify_port: port().optional(),
  /** SNI name sent in the handshake; default verify_host when it is a name. */
  verify_server_name: host()
    .refine((h) => isIP(h) === 0, 'must be a DNS name (SNI does not carry IP addresses)')
    .optional(),
};

export function verificationRules(v: Record<string, unknown>, ctx: RefineContext): void {
  for (const f of ['verify_port', 'verify_server_name'] as const) {
    if (v[f] !== undefined && v.verify_host === undefined) ctx.issue(f, 'requires verify_host');
  }
}

/** The verification endpoint a target's configuration names, if any. */
export function verifyEndpointFrom(config: ConfigObject): VerifyEndpoint | undefined {
  const h = config.verify_host;
  if (typeof h !== 'string') return undefined;
  const p = typeof config.verify_port === 'number' ? config.verify_port : 443;
  const sni = typeof config.verify_server_name === 'string' ? config.verify_server_name : undefined;
  return { host: h, port: p, ...(sni !== undefined ? { servername: sni } : isIP(h) === 0 ? { servername: h } : {}) };
}

/** SHA-256 over the DER of the first certificate in a PEM, lowercase hex (as stored for versions). */
export function certificateFingerprint(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex');
}

export interface ServedCertificate {
  /** SHA-256 over the DER of the leaf the endpoint served, lowercase hex. */
  fingerprintSha256: string;
  subject: string;
  notAfter: string;
}

/**
 * Opens a TLS connection and returns the leaf certificate the endpoint serves. Trust is not
 * checked here: the point is to compare fingerprints with what was deployed.
 */
export function fetchServedCertificate(
  endpoint: VerifyEndpoint,
  opts: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<ServedCertificate> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: endpoint.host,
      port: endpoint.port,
      servername: endpoint.servername,
      rejectUnauthorized: false,
    });
    const onAbort = () => socket.destroy(new Error('TLS verification aborted'));
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('close', () => opts.signal?.removeEventListener('abort', onAbort));
    socket.setTimeout(timeoutMs, () =>
      socket.destroy(new Error(`TLS handshake with ${endpoint.host}:${endpoint.port} timed out`)),
    );
    socket.once('secureConnect', () => {
      const peer = socket.getPeerX509Certificate();
      socket.end();
      if (!peer) {
        reject(new Error(`${endpoint.host}:${endpoint.port} sent no certificate`));
        return;
      }
      resolve({
        fingerprintSha256: createHash('sha256').update(peer.raw).digest('hex'),
        subject: peer.subject,
        notAfter: peer.validTo,
      });
    });
    socket.once('error', reject);
  });
}
