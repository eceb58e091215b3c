// @peculiar/x509 resolves its ASN.1 services through tsyringe, which needs the metadata polyfill.
import 'reflect-metadata';
import { AsnConvert, AsnIntegerBigIntConverter, OctetString } from '@peculiar/asn1-schema';
import {
  AuthorityKeyIdentifier,
  CRLReason,
  Extension,
  Extensions,
  InvalidityDate,
  KeyIdentifier,
  Version,
  id_ce_authorityKeyIdentifier,
  id_ce_cRLNumber,
  id_ce_cRLReasons,
  id_ce_invalidityDate,
} from '@peculiar/asn1-x509';
import * as x509 from '@peculiar/x509';
import * as asn1js from 'asn1js';
import { invalid } from '@certctl/domain';
import { DerSequence, requireDate, serialHexToInteger } from './der';
import { CrlReason, reasonCodeFor } from './reasons';
import { SigningIdentity, loadSigner } from './signing';

export interface CrlEntry {
  /** Serial of the revoked certificate, hex (case and leading zeros do not matter). */
  serialHex: string;
  revokedAt: Date;
  reason: CrlReason;
  /** When the key is known or suspected to have been compromised (RFC 5280 5.3.2). */
  invalidityDate?: Date;
}

export interface BuildCrlInput {
  /** The CA (or its CRL signing certificate) and its key. */
  issuer: SigningIdentity;
  thisUpdate: Date;
  nextUpdate: Date;
  /** Monotonically increasing; at most 20 octets (RFC 5280 5.2.3). */
  crlNumber: bigint;
  entries: readonly CrlEntry[];
}

/** Largest CRLNumber that fits the 20-octet limit as a positive INTEGER. */
const MAX_CRL_NUMBER = (1n << 159n) - 1n;

function reasonExtension(code: number): Extension {
  return new Extension({
    extnID: id_ce_cRLReasons,
    critical: false,
    extnValue: new OctetString(AsnConvert.serialize(new CRLReason(code))),
  });
}

/** crlEntryExtensions DER for an entry that carries only a reasonCode, per code (the common case). */
const reasonOnlyExtensions = new Map<number, ArrayBuffer>();
function entryExtensionsDer(code: number | undefined, invalidityDate: Date | undefined): ArrayBuffer | undefined {
  if (invalidityDate === undefined) {
    if (code === undefined) return undefined;
    let der = reasonOnlyExtensions.get(code);
    if (!der) {
      der = AsnConvert.serialize(new Extensions([reasonExtension(code)]));
      reasonOnlyExtensions.set(code, der);
    }
    return der;
  }
  const extensions = code === undefined ? [] : [reasonExtension(code)];
  extensions.push(
    new Extension({
      extnID: id_ce_invalidityDate,
      critical: false,
      extnValue: new OctetString(AsnConvert.serialize(new InvalidityDate(invalidityDate))),
    }),
  );
  return AsnConvert.serialize(new Extensions(extensions));
}

/** Entries encoded between two yields to the event loop (about 20-40 ms of work). */
const ENTRIES_PER_SLICE = 512;

/** RFC 5280 5.1.2.4: UTCTime through 2049, GeneralizedTime from 2050 (whole seconds either way). */
function timeBlock(when: Date): asn1js.UTCTime | asn1js.GeneralizedTime {
  return when.getUTCFullYear() < 2050
    ? new asn1js.UTCTime({ valueDate: when })
    : new asn1js.GeneralizedTime({ valueDate: when });
}

/**
 * A complete (not delta) X.509 v2 CRL, DER: authorityKeyIdentifier (the issuer's SKI) and
 * cRLNumber extensions; per entry a reasonCode (absent for unspecified, RFC 5280 5.3.1) and an
 * invalidityDate when given. Times are whole seconds, UTCTime through 2049 and
 * GeneralizedTime after (RFC 5280 5.1.2.4). Throws a validation DomainError naming the field.
 */
export async function buildCrl(input: BuildCrlInput): Promise<Buffer> {
  // Encoding costs ~40 us per entry in asn1js, so a 100k-entry CRL is seconds of CPU: entries
  // are encoded one by one (asn1-schema), in slices that yield to the event loop, and the
  // TBSCertList (RFC 5280 5.1, field order below) is assembled around their DER.
  if (!input || typeof input !== 'object') throw invalid('CRL input is required');
  const thisUpdate = requireDate(input.thisUpdate, 'thisUpdate');
  const nextUpdate = requireDate(input.nextUpdate, 'nextUpdate');
  if (nextUpdate.getTime() <= thisUpdate.getTime()) {
    throw invalid('nextUpdate must be later than thisUpdate (RFC 5280 5.1.2.5), in whole seconds');
  }
  const crlNumber = input.crlNumber;
  if (typeof crlNumber !== 'bigint' || crlNumber < 0n || crlNumber > MAX_CRL_NUMBER) {
    throw invalid('crlNumber must be a non-negative bigint of at most 20 octets (RFC 5280 5.2.3)');
  }
  if (!Array.isArray(input.entries)) throw invalid('entries must be an array');

  const signer = await loadSigner(input.issuer, 'issuer');
  const ku = signer.cert.cert.getExtension(x509.KeyUsagesExtension);
  if (ku && !(ku.usages & x509.KeyUsageFlags.cRLSign)) {
    throw invalid('issuer.certificate has a keyUsage without cRLSign (RFC 5280 4.2.1.3)');
  }

  const seen = new Set<string>();
  const revoked: DerSequence[] = [];
  for (let i = 0; i < input.entries.length; i++) {
    if (i > 0 && i % ENTRIES_PER_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
    const entry = input.entries[i] as CrlEntry | undefined;
    const field = `entries[${i}]`;
    if (!entry || typeof entry !== 'object') throw invalid(`${field} must be an object`);
    const serial = serialHexToInteger(entry.serialHex, `${field}.serialHex`);
    const key = Buffer.from(serial).toString('hex');
    if (seen.has(key)) throw invalid(`${field}.serialHex ${entry.serialHex} is listed twice`);
    seen.add(key);
    const revokedAt = requireDate(entry.revokedAt, `${field}.revokedAt`);
    const code = reasonCodeFor(entry.reason, `${field}.reason`);
    const invalidityDate =
      entry.invalidityDate === undefined ? undefined : requireDate(entry.invalidityDate, `${field}.invalidityDate`);
    const extensionsDer = entryExtensionsDer(code, invalidityDate);
    // RevokedCertificate (RFC 5280 5.1): userCertificate, revocationDate, crlEntryExtensions.
    const revokedCertificate = new asn1js.Sequence({
      value: [
        new asn1js.Integer({ valueHex: serial }),
        timeBlock(revokedAt),
        ...(extensionsDer ? [new DerSequence(extensionsDer)] : []),
      ],
    });
    revoked.push(new DerSequence(revokedCertificate.toBER()));
  }

  const crlExtensions = new Extensions([
    new Extension({
      extnID: id_ce_authorityKeyIdentifier,
      critical: false,
      extnValue: new OctetString(
        AsnConvert.serialize(
          new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(signer.cert.keyIdentifier) }),
        ),
      ),
    }),
    new Extension({
      extnID: id_ce_cRLNumber,
      critical: false,
      extnValue: new OctetString(AsnConvert.serialize(AsnIntegerBigIntConverter.toASN(crlNumber))),
    }),
  ]);
  const tbs = new asn1js.Sequence({
    value: [
      new asn1js.Integer({ value: Version.v2 }),
      new DerSequence(signer.algorithmDer),
      // The issuer Name exactly as the CA certificate encodes it (strict clients compare bytes).
      new DerSequence(signer.cert.subjectDer),
      timeBlock(thisUpdate),
      timeBlock(nextUpdate),
      // RFC 5280 5.1.2.6: when there are no revoked certificates the list MUST be absent.
      ...(revoked.length ? [new asn1js.Sequence({ value: revoked })] : []),
      new asn1js.Constructed({
        idBlock: { tagClass: 3, tagNumber: 0 },
        value: [new DerSequence(AsnConvert.serialize(crlExtensions))],
      }),
    ],
  });
  const tbsDer = tbs.toBER();
  const signature = await signer.sign(tbsDer);
  const certificateList = new asn1js.Sequence({
    value: [
      new DerSequence(tbsDer),
      new DerSequence(signer.algorithmDer),
      new asn1js.BitString({ valueHex: signature }),
    ],
  });
  return Buffer.from(certificateList.toBER());
}
