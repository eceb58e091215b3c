import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

const OID_SENDER_NONCE = '2.16.840.1.113733.1.9.5';
const OID_TRANSACTION_ID = '2.16.840.1.113733.1.9.7';

/** What a FAILURE CertRep needs from a request: its transactionID and senderNonce. */
export interface PeekedPkiMessage {
  transactionId: string;
  senderNonce: Buffer;
}

function exact(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** The children of a constructed block (SEQUENCE, SET, [n]). */
function children(b: asn1js.AsnType | undefined): asn1js.AsnType[] {
  const value = (b as asn1js.Constructed | undefined)?.valueBlock?.value;
  return Array.isArray(value) ? value : [];
}

const isContext = (b: asn1js.AsnType | undefined, n: number): boolean =>
  b?.idBlock.tagClass === 3 && b.idBlock.tagNumber === n && b.idBlock.isConstructed;

/**
 * Reads, without trusting them, the transactionID and senderNonce of a PKIMessage that
 * parsePkiMessage refused (bad signature, wrong RA, undecryptable content...), so the client
 * gets a FAILURE CertRep with the reason code instead of a bare HTTP error. Only a SignedData
 * with one signer, a certificate and both attributes in the expected form qualifies; anything
 * else is undefined (the caller answers HTTP 400). Walks the ASN.1 tree directly: it runs on
 * every refused message, so it must stay cheap. Never throws.
 */
export function peekPkiMessage(der: Uint8Array): PeekedPkiMessage | undefined {
  try {
    const asn = asn1js.fromBER(exact(der));
    if (asn.offset === -1 || asn.offset !== der.byteLength) return undefined;
    const [type, wrapped] = children(asn.result);
    if (!(type instanceof asn1js.ObjectIdentifier) || type.valueBlock.toString() !== pkijs.ContentInfo.SIGNED_DATA) {
      return undefined;
    }
    if (!isContext(wrapped, 0)) return undefined;
    const sd = children(children(wrapped)[0]);
    if (!sd.some((b) => isContext(b, 0) && children(b).length > 0)) return undefined; // no certificates
    const signerInfos = sd.at(-1);
    if (!(signerInfos instanceof asn1js.Set) || children(signerInfos).length !== 1) return undefined;
    const signedAttrs = children(children(signerInfos)[0]).find((b) => isContext(b, 0));
    const one = (oid: string): asn1js.AsnType | undefined => {
      const found = children(signedAttrs).filter((a) => {
        const t = children(a)[0];
        return t instanceof asn1js.ObjectIdentifier && t.valueBlock.toString() === oid;
      });
      const values = found.length === 1 ? children(children(found[0])[1]) : [];
      return values.length === 1 ? values[0] : undefined;
    };
    const tid = one(OID_TRANSACTION_ID);
    const nonce = one(OID_SENDER_NONCE);
    if (!(tid instanceof asn1js.PrintableString) || !(nonce instanceof asn1js.OctetString)) return undefined;
    const transactionId = tid.valueBlock.value;
    const senderNonce = Buffer.from(nonce.getValue());
    if (!/^[A-Za-z0-9 '()+,\-./:=?]{1,256}$/.test(transactionId)) return undefined;
    if (senderNonce.length < 8 || senderNonce.length > 64) return undefined;
    return { transactionId, senderNonce };
  } catch {
    return undefined;
  }
}

/** DER of a certificate's subject Name, as GetCRL's IssuerAndSerialNumber carries the issuer. */
export function subjectNameDer(certDer: Uint8Array): Buffer {
  return Buffer.from(pkijs.Certificate.fromBER(exact(certDer)).subject.toSchema().toBER());
}
