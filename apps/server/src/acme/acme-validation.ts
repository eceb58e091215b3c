import { createHash } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { request } from 'node:http';
import { isIP, type LookupFunction } from 'node:net';
import type { AcmeValidationConfig } from './acme-config';

/** What a failed validation reports in the challenge's `error` (RFC 8555 8.2). */
export interface ValidationError {
  type: string;
  detail: string;
}

export type ValidationResult = { ok: true } | { ok: false; error: ValidationError };

/** An http-01 answer is a key authorization (~130 bytes): anything much longer is not one. */
const MAX_HTTP01_BODY = 4_096;

const fail = (type: string, detail: string): ValidationResult => ({
  ok: false,
  error: { type: `urn:ietf:params:acme:error:${type}`, detail },
});

/** base64url(SHA-256(keyAuthorization)), the TXT value dns-01 expects (RFC 8555 8.4). */
export function dns01Digest(keyAuthorization: string): string {
  return createHash('sha256').update(keyAuthorization, 'utf8').digest('base64url');
}

/**
 * http-01 (RFC 8555 8.3): GET http://name:port/.well-known/acme-challenge/{token}. The
 * CERTCTL_ACME_SERVER_RESOLVE map answers before DNS so a lab (or a test) can point names at
 * loopback; redirects are not followed, the body is bounded and must equal the key
 * authorization (trailing whitespace ignored, as the RFC allows).
 */
/**
 * A DNS lookup that answers `address` for any name (the configured name-to-address map, so
 * validation stays on the addresses an operator chose), or undefined for the system resolver.
 */
export function pinnedLookup(address: string | undefined): LookupFunction | undefined {
  if (!address) return undefined;
  const family = isIP(address);
  return (_host, opts, cb) => {
    if (opts.all) (cb as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address, family }]);
    else cb(null, address, family);
  };
}

export function validateHttp01(
  cfg: AcmeValidationConfig,
  identifier: { type: string; value: string },
  token: string,
  keyAuthorization: string,
): Promise<ValidationResult> {
  const name = identifier.value;
  const mapped = cfg.resolve[name.toLowerCase()];
  const lookup = pinnedLookup(mapped);
  const hostname = isIP(name) === 6 ? `[${name}]` : name;
  const where = `http://${hostname}:${cfg.http01Port}/.well-known/acme-challenge/${token}`;
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: ValidationResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    const req = request(
      {
        host: name,
        port: cfg.http01Port,
        path: `/.well-known/acme-challenge/${token}`,
        method: 'GET',
        headers: { Host: cfg.http01Port === 80 ? hostname : `${hostname}:${cfg.http01Port}`, Accept: '*/*' },
        lookup,
        agent: false,
      },
      (res) => {
        if (res.statusCode !== 200) {
          done(fail('unauthorized', `${where} answered HTTP ${res.statusCode ?? '?'}, not 200`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_HTTP01_BODY) {
            done(fail('unauthorized', `${where} answered more than ${MAX_HTTP01_BODY} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8').replace(/\s+$/, '');
          done(
            body === keyAuthorization
              ? { ok: true }
              : fail(
                  'incorrectResponse',
                  `${where} answered ${JSON.stringify(body.slice(0, 200))}, not the key authorization`,
                ),
          );
        });
        res.on('error', (e) => done(fail('connection', `${where}: ${e.message}`)));
      },
    );
    const timer = setTimeout(
      () => done(fail('connection', `${where} did not answer within ${cfg.timeoutMs} ms`)),
      cfg.timeoutMs,
    );
    req.on('error', (e: NodeJS.ErrnoException) =>
      done(fail(e.code === 'ENOTFOUND' ? 'dns' : 'connection', `${where}: ${e.code ?? e.message}`)),
    );
    req.end();
  });
}

/**
 * dns-01 (RFC 8555 8.4): a TXT record at _acme-challenge.{name} holding the digest of the
 * key authorization, asked of CERTCTL_ACME_SERVER_DNS01_RESOLVER when set (else the system's).
 */
export async function validateDns01(
  cfg: AcmeValidationConfig,
  name: string,
  keyAuthorization: string,
): Promise<ValidationResult> {
  const resolver = new Resolver({ timeout: cfg.timeoutMs, tries: 1 });
  if (cfg.dnsResolver) {
    const { host, port } = cfg.dnsResolver;
    resolver.setServers([isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`]);
  }
  const qname = `_acme-challenge.${name}`;
  let records: string[][];
  try {
    records = await resolver.resolveTxt(qname);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    return fail('dns', `TXT ${qname}: ${code}`);
  }
  const want = dns01Digest(keyAuthorization);
  const found = records.map((chunks) => chunks.join(''));
  if (found.includes(want)) return { ok: true };
  return fail(
    'unauthorized',
    `TXT ${qname} holds ${found.length ? found.map((f) => JSON.stringify(f.slice(0, 100))).join(', ') : 'nothing'}, not the key authorization digest`,
  );
}
