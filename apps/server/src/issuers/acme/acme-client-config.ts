import { isIP } from 'node:net';

/** The ACME issuer connector's server side (CERTCTL_ACME_CLIENT_*). */
export interface AcmeClientConfig {
  /**
   * Where the built-in http-01 responder listens (CERTCTL_ACME_CLIENT_HTTP01_ADDRESS,
   * `host:port`); unset: off. The CA connects to port 80 of the names: forward it here.
   */
  http01?: { host: string; port: number };
  /** How long a published key authorization stays answerable (a validation takes seconds to minutes). */
  http01TokenTtlSeconds: number;
}

const NAME = 'CERTCTL_ACME_CLIENT_HTTP01_ADDRESS';

export function readAcmeClientConfig(env: Record<string, string | undefined>, problems: string[]): AcmeClientConfig {
  const raw = env[NAME]?.trim();
  const out: AcmeClientConfig = { http01TokenTtlSeconds: 3600 };
  if (!raw) return out;
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(raw);
  const port = m ? Number(m[2]) : NaN;
  if (!m || (isIP(m[1]) === 0 && m[1] !== 'localhost') || port < 1 || port > 65_535) {
    problems.push(`${NAME} must be IP:port (e.g. 0.0.0.0:80 or 127.0.0.1:5002), got ${JSON.stringify(raw)}`);
    return out;
  }
  return { ...out, http01: { host: m[1], port } };
}
