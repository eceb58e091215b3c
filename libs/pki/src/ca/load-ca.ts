// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the metadata polyfill.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { invalid } from '@certctl/domain';
import { ensureCryptoProvider } from '../crypto-provider';
import { importPrivateKeyPem, keyMatchesSpki } from '../keys/keys';
import { pemToDers } from '../keys/pem';
import { CaSigner } from './ca-signer';

export interface LoadCaParams {
  /** The CA certificate PEM (`CERTCTL_CA_CERT_PATH`); may be followed by its chain, nearest first. */
  certPem: string;
  /** Its private key PEM (`CERTCTL_CA_KEY_PATH`): PKCS#8, encrypted PKCS#8, SEC1 or PKCS#1. */
  keyPem: string;
  keyPassphrase?: string;
  /** More chain certificates (intermediates and root above the CA), nearest first. */
  chainPem?: string;
  now?: Date;
}

/**
 * Sub-CA mode: loads a CA certificate and key issued elsewhere (e.g. by an ADCS root) and
 * checks that the key belongs to the certificate, that it is a CA allowed to sign
 * certificates (basicConstraints cA, keyUsage keyCertSign), that it is valid now, and that
 * each chain certificate signed the one below it. Every failure is a Validation error
 * naming `ca_cert`, `ca_key` or `ca_chain`, so a misconfigured server stops at boot.
 */
export async function loadCaSigner(params: LoadCaParams): Promise<CaSigner> {
  ensureCryptoProvider();
  const certs = [
    ...readCerts(params.certPem, 'ca_cert'),
    ...(params.chainPem ? readCerts(params.chainPem, 'ca_chain') : []),
  ];
  const [cert, ...chain] = certs;
  const { privateKey } = await importPrivateKeyPem(params.keyPem, {
    passphrase: params.keyPassphrase,
    field: 'ca_key',
    extractable: false,
  });
  if (!keyMatchesSpki(privateKey, new Uint8Array(cert.publicKey.rawData))) {
    throw invalid('ca_key: does not match the public key of the CA certificate');
  }
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.ca) throw invalid(`ca_cert: "${cert.subject}" is not a CA certificate (basicConstraints cA is not set)`);
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  if (!ku || (ku.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
    throw invalid(`ca_cert: "${cert.subject}" may not sign certificates (keyUsage lacks keyCertSign)`);
  }
  const now = params.now ?? new Date();
  if (cert.notAfter.getTime() <= now.getTime()) throw invalid(`ca_cert: expired on ${cert.notAfter.toISOString()}`);
  if (cert.notBefore.getTime() > now.getTime())
    throw invalid(`ca_cert: not valid before ${cert.notBefore.toISOString()}`);

  for (let i = 0; i < chain.length; i++) {
    const child = i === 0 ? cert : chain[i - 1];
    const issuer = chain[i];
    const signed = await child.verify({ publicKey: issuer.publicKey, signatureOnly: true }).catch(() => false);
    if (!signed || child.issuer !== issuer.subject) {
      throw invalid(`ca_chain: "${issuer.subject}" did not issue "${child.subject}" (order the chain nearest first)`);
    }
    if (!issuer.getExtension(x509.BasicConstraintsExtension)?.ca) {
      throw invalid(`ca_chain: "${issuer.subject}" is not a CA certificate`);
    }
  }
  return new CaSigner(cert, privateKey, chain);
}

function readCerts(pem: string, field: string): x509.X509Certificate[] {
  return pemToDers(pem, ['CERTIFICATE'], field).map((der, i) => {
    try {
      return new x509.X509Certificate(der);
    } catch {
      throw invalid(`${field}: certificate #${i + 1} is not a readable X.509 certificate`);
    }
  });
}
