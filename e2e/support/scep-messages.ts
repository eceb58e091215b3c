import { createPrivateKey, randomBytes, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import {
  envelopeTo,
  pemToDers,
  scepAttributes,
  signScepMessage,
  type ScepContentCipher,
  type ScepFailInfo,
} from '@certctl/pki';
import type { OpensslDir } from '../../libs/pki/src/keys/testing';

/**
 * A SCEP client for tests, built from libs/pki's message primitives and the openssl CLI (an
 * independent implementation) for everything on the client side: keys, CSRs, decryption.
 */

export interface ScepDevice {
  name: string;
  /** DER PKCS#10 (with the challengePassword, if any). */
  csrDer: Buffer;
  key: KeyObject;
  /** A self-signed certificate of the device key (how PKCSReq is signed). */
  selfDer: Buffer;
  /** PEM files in the OpensslDir: `<name>.key`, `<name>.self.pem`. */
}

/** An RSA-2048 device key with a CSR for CN=`cn` (challenge as a CSR attribute) and a self-signed cert. */
export function makeDevice(ossl: OpensslDir, name: string, cn: string, challenge?: string): ScepDevice {
  ossl.write(
    `${name}.cnf`,
    `[req]\nprompt=no\ndistinguished_name=dn\n${challenge ? 'attributes=attrs\n' : ''}[dn]\nCN=${cn}\nO=Example\n` +
      (challenge ? `[attrs]\nchallengePassword=${challenge}\n` : ''),
  );
  ossl.ok(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-config', `${name}.cnf`,
    '-outform', 'DER', '-out', `${name}.csr.der`]); // prettier-ignore
  return deviceFromKey(ossl, name, cn);
}

/** Another CSR for an existing device key (same key, new attributes). */
export function csrFor(ossl: OpensslDir, name: string, cn: string, challenge?: string): Buffer {
  ossl.write(
    `${name}.cnf`,
    `[req]\nprompt=no\ndistinguished_name=dn\n${challenge ? 'attributes=attrs\n' : ''}[dn]\nCN=${cn}\nO=Example\n` +
      (challenge ? `[attrs]\nchallengePassword=${challenge}\n` : ''),
  );
  ossl.ok(['req', '-new', '-key', `${name}.key`, '-config', `${name}.cnf`, '-outform', 'DER', '-out', `${name}.csr.der`]); // prettier-ignore
  return ossl.read(`${name}.csr.der`);
}

function deviceFromKey(ossl: OpensslDir, name: string, cn: string): ScepDevice {
  ossl.ok(['req', '-x509', '-key', `${name}.key`, '-subj', `/CN=${cn}`, '-days', '1', '-out', `${name}.self.pem`]);
  return {
    name,
    csrDer: ossl.read(`${name}.csr.der`),
    key: createPrivateKey(ossl.read(`${name}.key`)),
    selfDer: Buffer.from(pemToDers(ossl.read(`${name}.self.pem`).toString(), ['CERTIFICATE'], 'self')[0]),
  };
}

export interface PkiMessageParams {
  raCertDer: Uint8Array;
  messageType: number;
  transactionId: string;
  content: Uint8Array;
  signer: { certDer: Uint8Array; key: KeyObject };
  senderNonce?: Buffer;
  cipher?: ScepContentCipher;
}

/** A PKIMessage the way scepclient builds one (SHA-1 signature), content encrypted to the RA. */
export function pkiMessage(p: PkiMessageParams): { der: Buffer; senderNonce: Buffer } {
  const senderNonce = p.senderNonce ?? randomBytes(16);
  const der = signScepMessage({
    signerCertDer: p.signer.certDer,
    signerKey: p.signer.key,
    digest: 'sha1',
    content: envelopeTo(p.raCertDer, p.content, p.cipher ?? 'AES-128-CBC'),
    attributes: scepAttributes({ messageType: p.messageType, transactionId: p.transactionId, senderNonce }),
  });
  return { der, senderNonce };
}

function name(cn: string): asn1js.Sequence {
  return new asn1js.Sequence({
    value: [
      new asn1js.Set({
        value: [
          new asn1js.Sequence({
            value: [new asn1js.ObjectIdentifier({ value: '2.5.4.3' }), new asn1js.Utf8String({ value: cn })],
          }),
        ],
      }),
    ],
  });
}

/** IssuerAndSerialNumber (GetCert, GetCRL) from an issuer Name (DER) and a hex serial. */
export function issuerAndSerial(issuerDer: Uint8Array, serialHex: string): Buffer {
  const issuer = asn1js.fromBER(new Uint8Array(issuerDer)).result;
  const serial = new asn1js.Integer({ valueHex: new Uint8Array(Buffer.from(serialHex, 'hex')).buffer });
  return Buffer.from(new asn1js.Sequence({ value: [issuer, serial] }).toBER());
}

/** IssuerAndSubject (GetCertInitial). */
export function issuerAndSubject(issuerCn: string, subjectCn: string): Buffer {
  return Buffer.from(new asn1js.Sequence({ value: [name(issuerCn), name(subjectCn)] }).toBER());
}

export interface ReadCertRep {
  messageType: string;
  pkiStatus: string;
  failInfo?: ScepFailInfo;
  transactionId: string;
  recipientNonce: Buffer;
  /** Content encryption OID of the pkcsPKIEnvelope, when there is one. */
  cipherOid?: string;
  /** `openssl pkcs7 -print_certs` of the decrypted content (certificates and CRLs), when there is one. */
  printed?: string;
  /** PEM certificates of the decrypted content, in order. */
  certsPem: string[];
}

const FAIL_INFO: Record<string, ScepFailInfo> = {
  '0': 'badAlg',
  '1': 'badMessageCheck',
  '2': 'badRequest',
  '3': 'badTime',
  '4': 'badCertId',
};

/**
 * Reads a CertRep: openssl checks its signature (cms -verify with the RA certificate as the
 * only trust, signer certificate from the message) and decrypts the envelope with the
 * device key; pkijs reads the SCEP attributes.
 */
export function readCertRep(
  ossl: OpensslDir,
  rep: Buffer,
  raCertDer: Uint8Array,
  recipient: { certDer: Uint8Array; keyFile: string },
): ReadCertRep {
  const tag = randomBytes(4).toString('hex');
  ossl.write(`rep-${tag}.der`, rep);
  ossl.write(`ra-${tag}.der`, raCertDer);
  ossl.ok(['x509', '-inform', 'DER', '-in', `ra-${tag}.der`, '-out', `ra-${tag}.pem`]);
  ossl.ok(['cms', '-verify', '-inform', 'DER', '-in', `rep-${tag}.der`, '-CAfile', `ra-${tag}.pem`, '-partial_chain',
    '-purpose', 'any', '-out', `inner-${tag}.der`]); // prettier-ignore
  const sd = new pkijs.SignedData({ schema: pkijs.ContentInfo.fromBER(new Uint8Array(rep)).content });
  const attrs = sd.signerInfos[0].signedAttrs?.attributes ?? [];
  const value = (oid: string) => attrs.find((a) => a.type === oid)?.values[0] as asn1js.AsnType | undefined;
  const str = (oid: string) => (value(oid) as asn1js.PrintableString | undefined)?.valueBlock.value;
  const out: ReadCertRep = {
    messageType: str('2.16.840.1.113733.1.9.2') ?? '',
    pkiStatus: str('2.16.840.1.113733.1.9.3') ?? '',
    failInfo: FAIL_INFO[str('2.16.840.1.113733.1.9.4') ?? ''],
    transactionId: str('2.16.840.1.113733.1.9.7') ?? '',
    recipientNonce: Buffer.from((value('2.16.840.1.113733.1.9.6') as asn1js.OctetString).getValue()),
    certsPem: [],
  };
  const inner = ossl.read(`inner-${tag}.der`);
  if (inner.length > 0) {
    const env = new pkijs.EnvelopedData({ schema: pkijs.ContentInfo.fromBER(new Uint8Array(inner)).content });
    out.cipherOid = env.encryptedContentInfo.contentEncryptionAlgorithm.algorithmId;
    ossl.write(`recip-${tag}.der`, recipient.certDer);
    ossl.ok(['x509', '-inform', 'DER', '-in', `recip-${tag}.der`, '-out', `recip-${tag}.pem`]);
    ossl.ok(['cms', '-decrypt', '-inform', 'DER', '-in', `inner-${tag}.der`, '-recip', `recip-${tag}.pem`,
      '-inkey', recipient.keyFile, '-out', `certs-${tag}.p7b`]); // prettier-ignore
    out.printed = ossl.ok(['pkcs7', '-inform', 'DER', '-in', `certs-${tag}.p7b`, '-print_certs']);
    out.certsPem = out.printed.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g) ?? [];
  }
  return out;
}
