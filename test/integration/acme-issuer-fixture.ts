import type { Pebble } from '../../libs/connectors/src/issuers/acme/testing/pebble';
import { firstCertificatePem } from './issued-certificates';
import type { TestApp } from './test-app';

/** Test helpers shared by the ACME issuer integration specs (server and agent keygen). */

/** An ACME issuer through the API, pointed at the Pebble's directory and trusting its TLS CA. */
export async function createAcmeIssuer(
  t: TestApp,
  admin: string,
  id: string,
  pebble: Pebble,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const res = await t.http
    .post('/api/v1/issuers')
    .set('Authorization', admin)
    .send({
      id,
      name: id,
      type: 'ACME',
      config: {
        directory_url: pebble.directoryUrl,
        email: 'ops@acme.test',
        trust_ca_path: pebble.tlsCaPath,
        ...extra,
      },
    });
  if (res.status !== 201) throw new Error(`ACME issuer ${id}: ${res.status} ${JSON.stringify(res.body)}`);
}

/**
 * `openssl verify` of the chain's leaf against the Pebble's issuing root (the rest of the
 * chain as untrusted intermediates); leaves leaf.pem in the Pebble's directory for further
 * openssl reads. Returns openssl's output ("leaf.pem: OK" when it verifies).
 */
export async function verifyAgainstPebbleRoot(pebble: Pebble, pemChain: string): Promise<string> {
  pebble.dir.write('root.pem', await pebble.rootPem());
  pebble.dir.write('chain.pem', pemChain);
  pebble.dir.write('leaf.pem', firstCertificatePem(pemChain));
  const r = pebble.dir.run(['verify', '-CAfile', 'root.pem', '-untrusted', 'chain.pem', 'leaf.pem']);
  return r.stdout + r.stderr;
}
