import { createHash, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { connect } from 'node:tls';
import type { VerifyEndpoint } from '@certctl/connectors';
import { sleep } from '../loops/backoff';

export interface VerificationOutcome {
  verified: boolean;
  expected_fingerprint: string;
  served_fingerprint?: string;
  error?: string;
  endpoint: string;
}

export function sha256Fingerprint(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex');
}

/**
 * SHA-256 of the leaf an endpoint serves. The chain is deliberately not validated: the check
 * is that the endpoint serves exactly the deployed certificate (a stronger statement).
 */
export function servedFingerprint(ep: VerifyEndpoint, timeoutMs = 10_000): Promise<string> {
  const servername = ep.servername ?? (isIP(ep.host) ? undefined : ep.host);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: ep.host, port: ep.port, servername, rejectUnauthorized: false });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`TLS handshake timed out after ${timeoutMs} ms`)));
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      const peer = socket.getPeerX509Certificate();
      socket.end();
      if (!peer) reject(new Error('the endpoint sent no certificate'));
      else resolve(createHash('sha256').update(peer.raw).digest('hex'));
    });
  });
}

/**
 * Handshakes with the endpoint until it serves the expected leaf (a reload may take a
 * moment), at most `attempts` times; the last answer is the outcome.
 */
export async function verifyServed(
  ep: VerifyEndpoint,
  expected: string,
  opts: { attempts?: number; delayMs?: number; timeoutMs?: number } = {},
): Promise<VerificationOutcome> {
  const attempts = opts.attempts ?? 5;
  const endpoint = `${ep.host.includes(':') ? `[${ep.host}]` : ep.host}:${ep.port}`;
  let last: VerificationOutcome = { verified: false, expected_fingerprint: expected, endpoint };
  for (let i = 0; i < attempts; i++) {
    if (i > 0) await sleep(opts.delayMs ?? 1_000);
    try {
      const served = await servedFingerprint(ep, opts.timeoutMs);
      last = { verified: served === expected, expected_fingerprint: expected, served_fingerprint: served, endpoint };
      if (!last.verified) last.error = 'the endpoint serves a different certificate';
      else return last;
    } catch (e) {
      last = { verified: false, expected_fingerprint: expected, endpoint, error: (e as Error).message.slice(0, 2000) };
    }
  }
  return last;
}
