import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { connect } from 'node:tls';
import * as x509 from '@peculiar/x509';
import type { AcmeValidationConfig } from './acme-config';
import { pinnedLookup, type ValidationResult } from './acme-validation';

/** The ALPN protocol a tls-alpn-01 responder negotiates (RFC 8737 section 6.2). */
export const ACME_TLS_ALPN = 'acme-tls/1';
/** id-pe-acmeIdentifier (RFC 8737 section 6.1). */
export const ACME_IDENTIFIER_OID = '1.3.6.1.5.5.7.1.31';

const fail = (type: string, detail: string): ValidationResult => ({
  ok: false,
  error: { type: `urn:ietf:params:acme:error:${type}`, detail },
});

/** DER of the id-pe-acmeIdentifier value: OCTET STRING holding SHA-256(keyAuthorization). */
export function acmeIdentifierValue(keyAuthorization: string): Buffer {
  const digest = createHash('sha256').update(keyAuthorization, 'utf8').digest();
  return Buffer.concat([Buffer.from([0x04, digest.length]), digest]);
}

/**
 * The SNI sent for an identifier: the DNS name itself, or for an IP address the reverse
 * mapping name RFC 8738 section 6 prescribes (1.0.0.127.in-addr.arpa, nibbles for IPv6).
 */
export function sniFor(identifier: { type: string; value: string }): string {
  if (identifier.type !== 'ip') return identifier.value;
  if (isIP(identifier.value) === 4) return `${identifier.value.split('.').reverse().join('.')}.in-addr.arpa`;
  const groups = new URL(`http://[${identifier.value}]/`).hostname.slice(1, -1).split(':');
  const missing = 8 - groups.filter((g) => g !== '').length;
  const full = groups.flatMap((g, i) =>
    g === '' ? (groups.indexOf('') === i ? Array<string>(missing).fill('0') : []) : [g],
  );
  const nibbles = full.map((g) => g.padStart(4, '0')).join('');
  return `${nibbles.split('').reverse().join('.')}.ip6.arpa`;
}

/**
 * Checks the certificate a tls-alpn-01 responder presented (RFC 8737 section 3): exactly
 * one subjectAltName, the identifier, and a critical id-pe-acmeIdentifier extension holding
 * the digest of the key authorization. Returns why it does not, or undefined.
 */
export function checkAcmeTlsCertificate(
  der: Buffer,
  identifier: { type: string; value: string },
  keyAuthorization: string,
): string | undefined {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(der);
  } catch (e) {
    return `the presented certificate does not parse: ${(e as Error).message}`;
  }
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const names = san?.names.items ?? [];
  const wantType = identifier.type === 'ip' ? 'ip' : 'dns';
  const matches = (n: { type: string; value: string }) =>
    n.type === wantType &&
    (wantType === 'dns' ? n.value.toLowerCase() === identifier.value.toLowerCase() : sameIp(n.value, identifier.value));
  if (names.length !== 1 || !matches(names[0])) {
    const shown = names.map((n) => `${n.type}:${n.value}`).join(', ') || 'none';
    return `the certificate's subjectAltName must be exactly ${wantType}:${identifier.value}, it is ${shown}`;
  }
  const ext = cert.extensions.find((e) => e.type === ACME_IDENTIFIER_OID);
  if (!ext) return `the certificate has no id-pe-acmeIdentifier (${ACME_IDENTIFIER_OID}) extension`;
  if (!ext.critical) return 'the id-pe-acmeIdentifier extension is not marked critical';
  if (!Buffer.from(ext.value).equals(acmeIdentifierValue(keyAuthorization))) {
    return 'the id-pe-acmeIdentifier extension does not hold SHA-256 of the key authorization';
  }
  return undefined;
}

function sameIp(a: string, b: string): boolean {
  const canon = (v: string) => (isIP(v) === 6 ? new URL(`http://[${v}]/`).hostname : v);
  return isIP(a) !== 0 && canon(a) === canon(b);
}

/**
 * tls-alpn-01 (RFC 8737): a TLS handshake to name:port offering only `acme-tls/1`, SNI the
 * name (the reverse name for an IP, RFC 8738). The responder's self-signed certificate is
 * what proves control, so it is not verified against any trust store; no application data
 * is exchanged. CERTCTL_ACME_SERVER_RESOLVE answers before DNS, as for http-01.
 */
export function validateTlsAlpn01(
  cfg: AcmeValidationConfig,
  identifier: { type: string; value: string },
  keyAuthorization: string,
): Promise<ValidationResult> {
  const name = identifier.value;
  const mapped = identifier.type === 'ip' ? name : cfg.resolve[name.toLowerCase()];
  const lookup = pinnedLookup(mapped);
  const where = `${isIP(name) === 6 ? `[${name}]` : name}:${cfg.tlsAlpn01Port}`;
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: ValidationResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const socket = connect({
      host: name,
      port: cfg.tlsAlpn01Port,
      servername: sniFor(identifier),
      ALPNProtocols: [ACME_TLS_ALPN],
      rejectUnauthorized: false,
      lookup,
    });
    socket.once('secureConnect', () => {
      if (socket.alpnProtocol !== ACME_TLS_ALPN) {
        done(
          fail(
            'unauthorized',
            `${where} did not negotiate ALPN ${ACME_TLS_ALPN} (got ${socket.alpnProtocol || 'none'})`,
          ),
        );
        return;
      }
      const raw = socket.getPeerCertificate().raw;
      if (!raw) {
        done(fail('unauthorized', `${where} presented no certificate`));
        return;
      }
      const why = checkAcmeTlsCertificate(raw, identifier, keyAuthorization);
      done(why ? fail('incorrectResponse', `${where}: ${why}`) : { ok: true });
    });
    socket.on('error', (e: NodeJS.ErrnoException) =>
      e.code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL'
        ? done(fail('unauthorized', `${where} did not negotiate ALPN ${ACME_TLS_ALPN} (no_application_protocol alert)`))
        : done(
            fail(
              e.code === 'ENOTFOUND' ? 'dns' : e.code?.startsWith('ERR_SSL') ? 'tls' : 'connection',
              `${where}: ${e.code ?? e.message}${e.code && e.message ? ` (${e.message})` : ''}`,
            ),
          ),
    );
    const timer = setTimeout(
      () => done(fail('connection', `${where} did not complete a TLS handshake within ${cfg.timeoutMs} ms`)),
      cfg.timeoutMs,
    );
  });
}
