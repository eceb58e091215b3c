import { KeyObject, timingSafeEqual, type X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { Injectable, Logger, UnsupportedMediaTypeException } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { AsnConvert } from '@peculiar/asn1-schema';
import type { Request } from 'express';
import { DataSource } from 'typeorm';
import { conflict, DomainError, ErrorCode, invalid, type KeyAlgorithmRule } from '@certctl/domain';
import {
  buildCsr,
  buildServerKeygenResponse,
  certsOnlyPkcs7,
  decodeEstBody,
  encodeCsrAttrsBase64,
  envelopeTo,
  estCertsOnlyBody,
  EST_MAX_BODY_BYTES,
  generateKeyPair,
  parseCsr,
  pemToDers,
  zeroize,
  type ParsedCsr,
  type ServerKeygenResponse,
} from '@certctl/pki';
import { IssuerConnectors } from '../ca/issuer-connectors';
import { AppConfig } from '../config/config.schema';
import { rowsOf } from '../database/sql';
import { readRawBody } from '../enrollment/raw-body';
import {
  EnrollmentService,
  namesOf,
  type EnrollmentOutcome,
  type EnrollmentTarget,
  type IssuedEnrollment,
} from '../enrollment/enrollment.service';
import { serverKeyAlgorithm } from '../issuance/issuance.service';
import { sourceIp, type EstIdentity } from './est-auth';
import type { EstLabel } from './est-labels';

/** RFC 7030 4.4.1.1 / 4.4.1.2: the client asks for its server-generated key encrypted. */
const OID_DECRYPT_KEY_ID = '1.2.840.113549.1.9.16.2.37';
const OID_ASYMM_DECRYPT_KEY_ID = '1.2.840.113549.1.9.16.2.54';
const PKCS10 = 'application/pkcs10';
/** How long a label's /cacerts answer is reused (CA material changes rarely; rotation shows within this). */
const CACERTS_TTL_MS = 60_000;

interface ProfileRow {
  allowed_key_algorithms: KeyAlgorithmRule[];
  allowed_ekus: string[];
  requires_approval: boolean;
}

/** What an enrollment request amounts to once its body is read and checked. */
export interface EstRequest {
  label: EstLabel;
  identity: EstIdentity;
  csr: ParsedCsr;
}

export type EstEnrollResult =
  { kind: 'issued'; body: string } | { kind: 'pending'; retryAfterSeconds: number; message: string };

/**
 * The EST operations behind the controller: CA certificates and CSR attributes of a label,
 * and enrollment (simpleenroll, simplereenroll, serverkeygen) through EnrollmentService,
 * so the profile policy, the approval gate and the audit trail are the API's.
 */
@Injectable()
export class EstService {
  private readonly logger = new Logger('EST');
  private readonly cacertsCache = new Map<string, { body: string; until: number }>();
  private readonly maxBody: number;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly enrollment: EnrollmentService,
    private readonly connectors: IssuerConnectors,
    config: AppConfig,
  ) {
    this.maxBody = Math.min(EST_MAX_BODY_BYTES, config.http.maxBodyBytes);
  }

  /** /cacerts: the label's issuing CA and the CAs above it, as a certs-only PKCS#7 in base64. */
  async cacerts(label: EstLabel): Promise<string> {
    const cached = this.cacertsCache.get(label.name);
    if (cached && cached.until > Date.now()) return cached.body;
    const ders = await this.caChain(label);
    const body = estCertsOnlyBody(ders);
    this.cacertsCache.set(label.name, { body, until: Date.now() + CACERTS_TTL_MS });
    return body;
  }

  /** /csrattrs: what the label's profile asks of a CSR (key, EKUs, channel binding). */
  async csrattrs(label: EstLabel): Promise<string> {
    const profile = await this.profile(label);
    return encodeCsrAttrsBase64({
      allowed_key_algorithms: profile?.allowed_key_algorithms,
      allowed_ekus: profile?.allowed_ekus?.length ? profile.allowed_ekus : undefined,
      channel_binding_required: label.config.channelBinding,
    });
  }

  /**
   * The request body as a verified CSR: Content-Type application/pkcs10 (415 otherwise),
   * base64 (or PEM, or DER) per decodeEstBody, the signature checked, and the RFC 9266
   * channel binding when the label requires it.
   */
  async readCsr(req: Request, label: EstLabel, identity: EstIdentity): Promise<ParsedCsr> {
    if (!req.is(PKCS10)) {
      throw new UnsupportedMediaTypeException(
        `EST requests carry a base64 PKCS#10 CSR with Content-Type ${PKCS10}, got ${req.headers['content-type'] ?? 'no Content-Type'}`,
      );
    }
    const raw = await readRawBody(req, this.maxBody);
    const cte = req.headers['content-transfer-encoding'];
    const der = decodeEstBody(raw, Array.isArray(cte) ? cte.join(',') : cte, { maxBytes: this.maxBody });
    const csr = await parseCsr(der, { maxBytes: this.maxBody });
    if (label.config.channelBinding) {
      try {
        checkChannelBinding(req, csr);
      } catch (e) {
        await this.reject(label, identity.actorId, (e as Error).message, req);
        throw e;
      }
    }
    return csr;
  }

  /** simpleenroll / simplereenroll. */
  async enroll(
    r: EstRequest,
    req: Request,
    renew?: { certificateId: string; allowNameChange: boolean },
  ): Promise<EstEnrollResult> {
    const outcome = await this.submit(r, req, r.csr, renew);
    if (outcome.status === 'pending') {
      return {
        kind: 'pending',
        retryAfterSeconds: outcome.retryAfterSeconds,
        message:
          `enrollment request ${outcome.requestId} is pending (job ${outcome.jobId}); ` +
          `send the same CSR again after ${outcome.retryAfterSeconds} s`,
      };
    }
    return { kind: 'issued', body: estCertsOnlyBody(certsOf(this.issuedOrThrow(outcome))) };
  }

  /**
   * serverkeygen: a key of the profile's first algorithm, a CSR for it with the names the
   * client asked for, enrolled like any other; the key goes back once (PKCS#8, or inside
   * CMS EnvelopedData to the client's TLS certificate when the CSR asks for that) and is
   * never stored. The caller sends the response and then zeroizes it.
   */
  async serverkeygen(r: EstRequest, req: Request): Promise<ServerKeygenResponse & { secrets: Buffer[] }> {
    const { label } = r;
    if (!label.config.serverKeygen) {
      throw new DomainError(ErrorCode.NotFound, `EST label "${label.name}" does not offer serverkeygen`);
    }
    const profile = await this.profile(label);
    if (profile?.requires_approval) {
      throw conflict(
        `EST label "${label.name}" cannot offer serverkeygen: its profile ${label.config.profileId} requires approval, ` +
          'and a server-generated key can only be handed over in the response that created it',
      );
    }
    const encryptTo = keyEncryptionRequest(r.csr, r.identity.clientCert);
    const names = namesOf(r.csr);
    const keys = await generateKeyPair(serverKeyAlgorithm(profile?.allowed_key_algorithms));
    const csr = await parseCsr(await buildCsr({ keys, commonName: names.commonName, sans: names.sans }));
    const outcome = await this.submit(r, req, csr);
    if (outcome.status === 'pending') {
      throw conflict(`serverkeygen request ${outcome.requestId} was deferred; the generated key was discarded`);
    }
    const issued = this.issuedOrThrow(outcome);
    const pkcs8 = KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'der' });
    const secrets: Buffer[] = [pkcs8];
    try {
      const certPkcs7Der = certsOnlyPkcs7(certsOf(issued));
      let response: ServerKeygenResponse;
      if (encryptTo) {
        const enveloped = envelopeTo(encryptTo.raw, pkcs8, 'AES-256-CBC');
        secrets.push(enveloped);
        response = buildServerKeygenResponse({ certPkcs7Der, encryptedKeyCmsDer: enveloped });
      } else {
        response = buildServerKeygenResponse({ certPkcs7Der, privateKeyPkcs8Der: pkcs8 });
      }
      secrets.push(response.body);
      return { ...response, secrets };
    } catch (e) {
      zeroize(...secrets);
      throw e;
    }
  }

  private async submit(
    r: EstRequest,
    req: Request,
    csr: ParsedCsr,
    renew?: { certificateId: string; allowNameChange: boolean },
  ): Promise<EnrollmentOutcome> {
    const target = this.target(r.label);
    const actor = { actorId: r.identity.actorId, actorType: 'Device' as const };
    try {
      return await this.enrollment.enroll({ target, csr, actor, sourceIp: sourceIp(req), renew });
    } catch (e) {
      if (e instanceof DomainError && (e.code === ErrorCode.Validation || e.code === ErrorCode.Conflict)) {
        await this.reject(r.label, r.identity.actorId, e.message, req);
      }
      throw e;
    }
  }

  private issuedOrThrow(outcome: EnrollmentOutcome): IssuedEnrollment {
    if (outcome.status === 'issued') return outcome.issued;
    if (outcome.status === 'failed') {
      throw conflict(`enrollment request ${outcome.requestId} failed: ${outcome.reason}`, {
        request_id: outcome.requestId,
      });
    }
    throw conflict(`enrollment request ${outcome.requestId} is still pending`);
  }

  /** Audits a refused request (the actor authenticated, so this is worth a row). */
  async reject(label: EstLabel, actorId: string, reason: string, req: Request): Promise<void> {
    await this.enrollment
      .recordRejection(this.target(label), { actorId, actorType: 'Device' }, reason, { source_ip: sourceIp(req) })
      .catch((e: Error) => this.logger.warn(`EST rejection audit failed: ${e.message}`));
  }

  target(label: EstLabel): EnrollmentTarget {
    return {
      protocol: 'EST',
      label: label.config.label,
      issuerId: label.config.issuerId,
      profileId: label.config.profileId,
    };
  }

  private async profile(label: EstLabel): Promise<ProfileRow | undefined> {
    const id = label.config.profileId;
    if (!id) return undefined;
    const row = rowsOf<ProfileRow>(
      await this.ds.query(
        `SELECT allowed_key_algorithms, allowed_ekus, requires_approval FROM certificate_profiles WHERE id = $1`,
        [id],
      ),
    )[0];
    if (!row) {
      throw new DomainError(
        ErrorCode.Unavailable,
        `EST label "${label.name}" is misconfigured: profile ${id} does not exist`,
      );
    }
    return row;
  }

  private async caChain(label: EstLabel): Promise<Uint8Array[]> {
    let resolved;
    try {
      resolved = await this.connectors.forIssuance(label.config.issuerId);
    } catch (e) {
      if (e instanceof DomainError && e.code !== ErrorCode.Unavailable) {
        throw new DomainError(ErrorCode.Unavailable, `EST label "${label.name}" has no CA certificates: ${e.message}`);
      }
      throw e;
    }
    const signer = resolved.ca?.signer;
    if (signer) return [signer.certDer, ...signer.chain.map((c) => new Uint8Array(c.rawData))];
    try {
      return pemToDers(await resolved.connector.getCaCertPem(), ['CERTIFICATE'], 'issuer CA');
    } catch (e) {
      throw new DomainError(
        ErrorCode.Unavailable,
        `issuer ${label.config.issuerId} of EST label "${label.name}" does not publish its CA certificates: ${(e as Error).message}`,
      );
    }
  }
}

function certsOf(issued: IssuedEnrollment): Uint8Array[] {
  return [issued.certDer, ...issued.chainDer];
}

/**
 * RFC 9266 tls-exporter channel binding: the CSR's challengePassword must be the base64 of
 * the exporter value of this very TLS connection, so a CSR cannot be replayed over another
 * one. Missing is a malformed request (400); a different value is a conflict (409).
 */
function checkChannelBinding(req: Request, csr: ParsedCsr): void {
  const socket = req.socket as Partial<TLSSocket>;
  if (typeof socket.exportKeyingMaterial !== 'function' || socket.getProtocol?.() !== 'TLSv1.3') {
    throw invalid('channel binding: this EST label requires a TLS 1.3 connection (RFC 9266 tls-exporter)');
  }
  if (csr.challengePassword === undefined) {
    throw invalid(
      'channel binding: the CSR has no challengePassword; this EST label requires the RFC 9266 tls-exporter value ' +
        '(base64 of 32 bytes exported with label EXPORTER-Channel-Binding and an empty context) in it',
    );
  }
  const expected = Buffer.from(
    socket.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0)).toString('base64'),
  );
  const got = Buffer.from(csr.challengePassword);
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
    throw conflict(
      'channel binding: the CSR challengePassword does not match the tls-exporter value of this TLS connection',
    );
  }
}

/**
 * Whether the serverkeygen CSR asks for its key encrypted (RFC 7030 4.4.1), and to which
 * certificate: AsymmetricDecryptKeyIdentifier is served by enveloping to the client's TLS
 * certificate (RSA key transport); a symmetric DecryptKeyIdentifier is refused, as this
 * server shares no symmetric keys with clients.
 */
function keyEncryptionRequest(csr: ParsedCsr, clientCert: X509Certificate | undefined): X509Certificate | undefined {
  let types: string[];
  try {
    types = AsnConvert.parse(csr.der, CertificationRequest).certificationRequestInfo.attributes.map((a) => a.type);
  } catch {
    throw invalid('csr: not a DER PKCS#10 certification request');
  }
  if (types.includes(OID_DECRYPT_KEY_ID)) {
    throw invalid(
      'serverkeygen: DecryptKeyIdentifier (a symmetric key shared with the server) is not supported; ' +
        'ask for AsymmetricDecryptKeyIdentifier with an RSA TLS client certificate, or for an unencrypted key',
    );
  }
  if (!types.includes(OID_ASYMM_DECRYPT_KEY_ID)) return undefined;
  if (!clientCert) {
    throw invalid(
      'serverkeygen: the CSR asks for the key encrypted (AsymmetricDecryptKeyIdentifier) but no TLS client certificate was presented to encrypt it to',
    );
  }
  if (clientCert.publicKey.asymmetricKeyType !== 'rsa') {
    throw invalid(
      `serverkeygen: the key can only be encrypted to an RSA TLS client certificate (key transport); this one is ${String(clientCert.publicKey.asymmetricKeyType)}`,
    );
  }
  return clientCert;
}
