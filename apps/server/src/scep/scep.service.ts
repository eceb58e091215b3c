import { createHash, timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { DomainError, ErrorCode } from '@certctl/domain';
import {
  buildCertRep,
  parsePkiMessage,
  pemToDers,
  ScepError,
  type ParsedPkiMessage,
  type ScepFailInfo,
} from '@certctl/pki';
import { CaStore, urlIdOf } from '../ca/ca-store';
import { rowsOf } from '../database/sql';
import type { ScepLabelConfig } from '../enrollment/enrollment-config';
import {
  EnrollmentService,
  type EnrollmentActor,
  type EnrollmentOutcome,
  type EnrollmentTarget,
} from '../enrollment/enrollment.service';
import { IntuneChallengeService, IntuneRejection } from '../enrollment/intune-challenge.service';
import { CrlService } from '../pki-endpoints/crl.service';
import { ScepRaService, type ScepRaMaterial } from './scep-ra.service';
import { ScepReplayGuard } from './scep-replay';
import { peekPkiMessage, subjectNameDer } from './scep-wire';

/** A PKIMessage that cannot be answered with a CertRep: the HTTP status and a plain-text reason. */
export class ScepHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ScepHttpError';
  }
}

/** Largest PKIMessage accepted (a PKCSReq with an RSA-4096 CSR is under 8 KiB). */
export const SCEP_MAX_MESSAGE_BYTES = 256 * 1024;

/** Who a CertRep answers: enough of the request to address the reply. */
interface Addressee {
  transactionId: string;
  senderNonce: Uint8Array;
  /** The request's signer certificate (the success content is encrypted to it). */
  signerCertificate?: Uint8Array;
  contentCipher?: ParsedPkiMessage['contentCipher'];
}

type Reply =
  | { status: 'success'; certs: Uint8Array[] }
  | { status: 'success-crl'; crlDer: Uint8Array }
  | { status: 'pending' }
  | { status: 'failure'; failInfo: ScepFailInfo };

/**
 * PKIOperation (RFC 8894 3.3): parses and checks a PKIMessage with the label's RA, applies
 * replay protection and the label's credential, hands enrollment to EnrollmentService and
 * answers a CertRep signed by the RA. What the client did wrong is a FAILURE CertRep with a
 * failInfo; only a message too broken to address a reply to is an HTTP 400, and an
 * unavailable dependency (Redis, the issuer) an HTTP 503.
 */
@Injectable()
export class ScepService {
  constructor(
    private readonly ras: ScepRaService,
    private readonly replay: ScepReplayGuard,
    private readonly enrollment: EnrollmentService,
    private readonly intune: IntuneChallengeService,
    private readonly crls: CrlService,
    private readonly cas: CaStore,
    @InjectDataSource() private readonly ds: DataSource,
  ) {}

  async pkiOperation(label: ScepLabelConfig, der: Uint8Array, sourceIp?: string): Promise<Buffer> {
    const material = await this.ras.material(label);
    let msg: ParsedPkiMessage;
    try {
      msg = await parsePkiMessage(der, material.ra, { maxBytes: SCEP_MAX_MESSAGE_BYTES });
    } catch (e) {
      if (!(e instanceof ScepError)) throw e;
      const peeked = peekPkiMessage(der);
      if (!peeked) throw new ScepHttpError(400, `invalid SCEP PKIMessage: ${e.message}`);
      return this.certRep(material, peeked, { status: 'failure', failInfo: e.failInfo });
    }
    const reply = await this.answer(label, msg, sourceIp);
    return this.certRep(material, msg, reply);
  }

  private async answer(label: ScepLabelConfig, msg: ParsedPkiMessage, sourceIp: string | undefined): Promise<Reply> {
    const target: EnrollmentTarget = {
      protocol: 'SCEP',
      label: label.label,
      issuerId: label.issuerId,
      profileId: label.profileId,
    };
    const actor: EnrollmentActor = { actorId: `scep:${label.label || 'default'}`, actorType: 'Device' };
    const reject = async (reason: string, failInfo: ScepFailInfo = 'badRequest'): Promise<Reply> => {
      await this.enrollment.recordRejection(target, actor, reason, {
        transaction_id: msg.transactionId,
        message_type: msg.messageType,
        source_ip: sourceIp ?? null,
      });
      return { status: 'failure', failInfo };
    };

    const verdict = await this.replay.check(label.label, msg.transactionId, msg.senderNonce);
    if (verdict === 'replay') return reject('replayed PKIMessage (transactionID and senderNonce seen before)');
    if (verdict === 'resend') {
      const earlier = await this.transactionState(target, msg);
      if (!earlier) return reject('replayed PKIMessage (transactionID and senderNonce seen before)');
      return this.settle(label, msg, earlier);
    }

    // A message that fails on our side (503: Redis, the issuer, the database) was not
    // processed: forget it, so the client's identical retry is not taken for a replay.
    try {
      switch (msg.messageType) {
        case 'PKCSReq':
        case 'RenewalReq': {
          let renew: { certificateId: string; allowNameChange: boolean } | undefined;
          if (msg.messageType === 'PKCSReq') {
            const refused = await this.checkChallenge(label, msg);
            if (refused) return reject(refused);
          } else {
            const presented = await this.enrollment.presented(msg.signerCertificate);
            const refused = renewalRefusal(presented);
            if (refused || !presented) return reject(refused ?? 'RenewalReq signer is unknown');
            renew = { certificateId: presented.certificateId, allowNameChange: false };
          }
          let outcome: EnrollmentOutcome;
          try {
            outcome = await this.enrollment.enroll({
              target,
              csr: msg.csr!,
              actor,
              transactionId: enrollmentTransaction(msg),
              sourceIp,
              renew,
            });
          } catch (e) {
            if (e instanceof DomainError && refusable(e)) return reject(e.message);
            throw e;
          }
          return this.settle(label, msg, outcome);
        }
        case 'GetCertInitial': {
          const outcome = await this.transactionState(target, msg);
          if (!outcome) return { status: 'failure', failInfo: 'badCertId' };
          return this.settle(label, msg, outcome);
        }
        case 'GetCert': {
          const issued = await this.enrollment.certificateBySerial(msg.serialHex!);
          if (!issued) return { status: 'failure', failInfo: 'badCertId' };
          return { status: 'success', certs: [issued.certDer, ...issued.chainDer] };
        }
        case 'GetCRL': {
          const crl = await this.crlFor(msg.issuerDer!, msg.serialHex!);
          return crl ? { status: 'success-crl', crlDer: crl } : { status: 'failure', failInfo: 'badCertId' };
        }
      }
    } catch (e) {
      await this.replay.forget(label.label, msg.transactionId, msg.senderNonce);
      throw e;
    }
  }

  /**
   * The enrollment a message belongs to: its own transaction for PKCSReq and RenewalReq;
   * for GetCertInitial, a renewal signed by the same certificate, else the plain transaction.
   */
  private async transactionState(
    target: EnrollmentTarget,
    msg: ParsedPkiMessage,
  ): Promise<EnrollmentOutcome | undefined> {
    if (msg.messageType !== 'GetCertInitial') return this.enrollment.byTransaction(target, enrollmentTransaction(msg));
    return (
      (await this.enrollment.byTransaction(target, renewalTransaction(msg))) ??
      (await this.enrollment.byTransaction(target, msg.transactionId))
    );
  }

  /** The reply for an enrollment's state; PENDING is remembered so the client's resend is allowed. */
  private async settle(label: ScepLabelConfig, msg: ParsedPkiMessage, outcome: EnrollmentOutcome): Promise<Reply> {
    const state = outcome.status === 'pending' ? 'pending' : 'done';
    await this.replay.mark(label.label, msg.transactionId, msg.senderNonce, state);
    if (outcome.status === 'issued') {
      return { status: 'success', certs: [outcome.issued.certDer, ...outcome.issued.chainDer] };
    }
    if (outcome.status === 'pending') return { status: 'pending' };
    return { status: 'failure', failInfo: 'badRequest' };
  }

  /** Undefined when the CSR's challengePassword is accepted, else the reason (audited, not sent). */
  private async checkChallenge(label: ScepLabelConfig, msg: ParsedPkiMessage): Promise<string | undefined> {
    const challenge = msg.csr?.challengePassword;
    if (!challenge) return 'the CSR carries no challengePassword';
    // With both configured, an Intune challenge is a JWS (three dot-separated parts).
    const toIntune = label.intune && (!label.challengePassword || challenge.split('.').length === 3);
    if (toIntune && label.intune) {
      try {
        await this.intune.verify(label.label, label.intune, challenge, msg.csr!);
        return undefined;
      } catch (e) {
        if (e instanceof IntuneRejection) return `Intune challenge rejected: ${e.reason}`;
        throw e;
      }
    }
    if (!label.challengePassword) return 'the label accepts no static challenge';
    return challengeMatches(challenge, label.challengePassword) ? undefined : 'wrong challengePassword';
  }

  /** The CRL of the CA that issued the certificate GetCRL names (issuer Name + serial). */
  private async crlFor(issuerDer: Uint8Array, serialHex: string): Promise<Uint8Array | undefined> {
    const version = rowsOf<{ ca_id: string | null }>(
      await this.ds.query(
        `SELECT ca_id FROM certificate_versions WHERE lower(ltrim(serial_number, '0')) = $1
          ORDER BY created_at DESC LIMIT 1`,
        [serialHex.toLowerCase().replace(/^0+/, '')],
      ),
    )[0];
    if (!version?.ca_id) return undefined;
    const ca = await this.cas.row(version.ca_id);
    if (!ca) return undefined;
    const [caDer] = pemToDers(ca.cert_pem, ['CERTIFICATE'], 'issuer_cas.cert_pem');
    if (!subjectNameDer(caDer).equals(Buffer.from(issuerDer))) return undefined;
    try {
      return (await this.crls.get(urlIdOf(ca))).der;
    } catch (e) {
      // A CA whose CRL is not signed here: no CRL to give (badCertId), not an HTTP 404.
      if (e instanceof DomainError && e.code === ErrorCode.NotFound) return undefined;
      throw e;
    }
  }

  /** Signs the CertRep; a success the requester cannot receive (non-RSA signer key) becomes a FAILURE. */
  private certRep(material: ScepRaMaterial, to: Addressee, reply: Reply): Buffer {
    // Clients that encrypt with DES or 3DES may not know AES: answer them with 3DES.
    const contentCipher =
      to.contentCipher === 'DES-CBC' || to.contentCipher === 'DES-EDE3-CBC' ? 'DES-EDE3-CBC' : 'AES-256-CBC';
    const base = {
      ra: material.ra,
      recipientCert: to.signerCertificate ?? new Uint8Array(0),
      transactionId: to.transactionId,
      recipientNonce: to.senderNonce,
      contentCipher,
    } as const;
    try {
      if (reply.status === 'success') {
        if (!to.signerCertificate) throw new ScepError('badRequest', 'no certificate to encrypt the reply to');
        return buildCertRep({
          ...base,
          status: 'success',
          issued: { certDer: reply.certs[0], chainDers: reply.certs.slice(1) },
        });
      }
      if (reply.status === 'success-crl') {
        if (!to.signerCertificate) throw new ScepError('badRequest', 'no certificate to encrypt the reply to');
        return buildCertRep({ ...base, status: 'success', crlDer: reply.crlDer });
      }
      if (reply.status === 'pending') return buildCertRep({ ...base, status: 'pending' });
      return buildCertRep({ ...base, status: 'failure', failInfo: reply.failInfo });
    } catch (e) {
      if (!(e instanceof ScepError) || reply.status === 'failure') throw e;
      return buildCertRep({ ...base, status: 'failure', failInfo: e.failInfo });
    }
  }
}

/** Constant-time comparison of a presented challenge with the configured one. */
export function challengeMatches(presented: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(presented), digest(expected));
}

/**
 * The transaction key under which EnrollmentService keeps a request. micromdm scepclient
 * derives the transactionID from the public key, and renews with the same key: its
 * RenewalReq repeats the transactionID of the PKCSReq that got the certificate. Keyed by the
 * certificate that signs it, each renewal is a transaction of its own, while a resent
 * RenewalReq (same signer) still finds its first one.
 */
function enrollmentTransaction(msg: ParsedPkiMessage): string {
  return msg.messageType === 'RenewalReq' ? renewalTransaction(msg) : msg.transactionId;
}

function renewalTransaction(msg: ParsedPkiMessage): string {
  const signer = createHash('sha256').update(msg.signerCertificate).digest('hex').slice(0, 32);
  return `renewal:${signer}:${msg.transactionId}`;
}

/** Why a RenewalReq's signer may not renew, or undefined when it may. */
function renewalRefusal(p: Awaited<ReturnType<EnrollmentService['presented']>>): string | undefined {
  if (!p) return 'RenewalReq is not signed by a certificate certctl issued';
  if (p.enrolledVia !== 'SCEP') return `certificate ${p.certificateId} was not enrolled over SCEP`;
  if (p.archived) return `certificate ${p.certificateId} is archived`;
  if (p.revoked) return `certificate ${p.certificateId} is revoked`;
  if (p.notAfter.getTime() <= Date.now()) return `certificate ${p.certificateId} has expired`;
  return undefined;
}

/** Errors about the request itself (policy, names, state): a FAILURE, not an HTTP error. */
function refusable(e: DomainError): boolean {
  return [ErrorCode.Validation, ErrorCode.Conflict, ErrorCode.NotFound, ErrorCode.Forbidden, ErrorCode.Gone].includes(
    e.code,
  );
}
