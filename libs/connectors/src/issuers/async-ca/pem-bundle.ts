import { X509Certificate } from 'node:crypto';
import { DomainError, ErrorCode } from '@certctl/domain';
import type { IssuanceResult } from '../issuer-port';
import { issuanceResult, pemCertificates } from '../remote-ca/issued-certificate';

/**
 * The IssuanceResult of a PEM bundle a commercial CA hands out (DigiCert `pem_all`, Sectigo
 * `x509`): leaf, intermediates and often the root, in an order vendors do not agree on. The
 * leaf is the certificate carrying the requested public key; the chain is rebuilt upwards
 * from it (nearest CA first), and the self-signed root is dropped by issuanceResult.
 */
export function bundleResult(text: string, expectedSpkiDer: Uint8Array, what: string): IssuanceResult {
  const blocks = pemCertificates(text);
  if (blocks.length === 0) throw new DomainError(ErrorCode.Unavailable, `${what} returned no PEM certificate`);
  const parsed = blocks.map((pem) => {
    try {
      return { pem, cert: new X509Certificate(pem) };
    } catch {
      throw new DomainError(ErrorCode.Unavailable, `${what} returned a block that is not an X.509 certificate`);
    }
  });
  const wanted = Buffer.from(expectedSpkiDer);
  const leaf = parsed.find((p) => wanted.equals(p.cert.publicKey.export({ type: 'spki', format: 'der' })));
  // No match: let issuanceResult refuse the first certificate with its own clear message.
  if (!leaf) return issuanceResult(blocks[0], [], expectedSpkiDer, what);
  const chain: string[] = [];
  const used = new Set<X509Certificate>([leaf.cert]);
  let current = leaf.cert;
  for (;;) {
    const parent = parsed.find(
      (p) => !used.has(p.cert) && p.cert.subject === current.issuer && current.checkIssued(p.cert),
    );
    if (!parent) break;
    used.add(parent.cert);
    chain.push(parent.pem);
    current = parent.cert;
  }
  return issuanceResult(leaf.pem, chain, expectedSpkiDer, what);
}
