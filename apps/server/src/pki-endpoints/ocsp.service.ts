import { Injectable, Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { DomainError, ErrorCode } from '@certctl/domain';
import type { IssuerConnector } from '@certctl/connectors';
import {
  MalformedOcspRequest,
  certIdMatchesIssuer,
  ocspErrorResponse,
  parseOcspRequest,
  type OcspCertId,
  type OcspErrorStatus,
  type OcspSingleResponse,
} from '@certctl/pki';
import { IssuerConnectors } from '../ca/issuer-connectors';
import { AppConfig } from '../config/config.schema';
import { OcspHotCache } from './ocsp-hot-cache';
import { OcspResponderStore, type LoadedResponder } from './ocsp-responder.store';
import { lockShared, ocspLockKey, PkiRepository, type OcspCacheKey, type SerialStatus } from './pki.repository';
import { ServedCaResolver, type ResolvedCa } from './served-ca.resolver';

/** What the controller sends back: always an OCSPResponse (successful or an error status). */
export interface OcspAnswer {
  der: Buffer;
  status: 'successful' | OcspErrorStatus;
  /** Why an error status was answered (sent as a response header, never in the DER). */
  problem?: string;
  /** Successful responses without a nonce: may be cached by HTTP caches until then. */
  cacheable?: { thisUpdate: Date; nextUpdate: Date };
}

/** A request in the RFC 6960 forms (DER) or the convenience form (a serial in hex). */
export type OcspQuery = { der: Buffer } | { serialHex: string } | { malformed: string };

const HEX_SERIAL = /^[0-9a-fA-F]{1,64}$/;

/**
 * The OCSP responder of the CAs this server holds (RFC 6960, RFC 5019 caching).
 *
 * - Answers come from certificate_versions (was the serial signed by this CA?) and
 *   certificate_revocations: good, revoked (time and reason) or unknown. Certificates of
 *   short-lived profiles answer good: like CRLs, OCSP leaves them out.
 * - Signed by the CA's delegated responder (OcspResponderStore); without
 *   CERTCTL_CONFIG_ENCRYPTION_KEY (sub-CA mode only) the CA signs itself.
 * - One CertID and no nonce: pre-signed responses from `ocsp_responses`, one per CA,
 *   serial and CertID form, used while at least half their validity is left and re-signed
 *   after. Concurrent misses for one key in a process share one signature; across
 *   replicas each may sign once and the last write wins (both responses are valid).
 * - With a nonce (openssl ocsp sends one unless -no_nonce): a fresh response echoing it,
 *   never cached. Several CertIDs in one request: a fresh response too.
 * - Malformed requests: OCSP malformedRequest; a CertID of another issuer: unauthorized.
 * - In front of all this, the in-process OcspHotCache keyed on the raw request (`rawKey`):
 *   a hit is answered without parsing or a database round trip; pre-signed answers of
 *   known serials fill it.
 */
@Injectable()
export class OcspService {
  private readonly logger = new Logger(OcspService.name);
  private readonly fills = new Map<string, Promise<Filled>>();
  private readonly connectors = new Map<string, Promise<IssuerConnector>>();

  constructor(
    private readonly repo: PkiRepository,
    private readonly resolver: ServedCaResolver,
    private readonly responders: OcspResponderStore,
    private readonly issuerConnectors: IssuerConnectors,
    private readonly config: AppConfig,
    private readonly hot: OcspHotCache,
  ) {}

  /**
   * 404 (DomainError) for an unknown CA id; every other outcome is an OCSPResponse.
   * `rawKey` names the request's exact bytes (getKey/postKey) for the in-process cache.
   */
  async answer(urlId: string, query: OcspQuery, rawKey?: string): Promise<OcspAnswer> {
    if (rawKey !== undefined) {
      const hit = this.hot.get(rawKey);
      if (hit) return hit;
    }
    // Before any status is read: an invalidation from now on keeps this answer out of the cache.
    const ticket = this.hot.ticket();
    const ca = await this.resolver.resolve(urlId);
    let certIds: OcspCertId[];
    let nonce: Buffer | undefined;
    if ('malformed' in query) return errorAnswer('malformedRequest', query.malformed);
    if ('serialHex' in query) {
      const serial = canonicalSerial(query.serialHex);
      if (!serial) return errorAnswer('malformedRequest', 'the serial must be 1 to 20 octets of hexadecimal');
      certIds = [
        {
          hashAlgorithm: 'SHA-1',
          issuerNameHash: ca.sha1NameHash,
          issuerKeyHash: ca.sha1KeyHash,
          serialHex: serial,
          hashParameters: 'null',
        },
      ];
    } else {
      try {
        const parsed = parseOcspRequest(query.der, { maxBytes: this.config.http.maxBodyBytes });
        certIds = parsed.certIds;
        nonce = parsed.nonce;
      } catch (e) {
        if (e instanceof MalformedOcspRequest) return errorAnswer('malformedRequest', e.message);
        throw e;
      }
      for (const id of certIds) {
        if (!certIdMatchesIssuer(id, ca.certDer)) {
          return errorAnswer('unauthorized', `a CertID names another issuer than the CA of ${urlId}`);
        }
      }
    }
    try {
      if (certIds.length === 1 && !nonce) {
        const { answer, known } = await this.cached(ca, certIds[0]);
        return known && rawKey !== undefined
          ? this.hot.put(rawKey, ticket, ca.id, certIds[0].serialHex, answer)
          : answer;
      }
      const statuses = await this.repo.statuses(
        ca.id,
        certIds.map((c) => c.serialHex),
      );
      return await this.sign(ca, certIds, statuses, nonce);
    } catch (e) {
      const unavailable = e instanceof DomainError && e.code === ErrorCode.Unavailable;
      this.logger.error(`OCSP for CA ${ca.id} failed: ${(e as Error).message}`);
      return errorAnswer(unavailable ? 'tryLater' : 'internalError', 'the responder cannot answer now');
    }
  }

  private async cached(ca: ResolvedCa, certId: OcspCertId): Promise<Filled> {
    const key: OcspCacheKey = { caId: ca.id, serial: certId.serialHex, form: formOf(certId) };
    const id = `${key.caId}|${key.serial}|${key.form}`;
    const pending = this.fills.get(id);
    if (pending) return pending;
    const hit = await this.fresh(key);
    if (hit) return { answer: hit, known: true };
    let fill = this.fills.get(id);
    if (!fill) {
      fill = this.fill(ca, certId, key).finally(() => this.fills.delete(id));
      this.fills.set(id, fill);
    }
    return fill;
  }

  /** The stored response of `key` while at least half its validity is left. */
  private async fresh(key: OcspCacheKey, m?: EntityManager): Promise<OcspAnswer | undefined> {
    const halfValidity = this.config.pki.ocspResponseValidityMs / 2;
    const hit = await this.repo.cachedOcsp(key, new Date(Date.now() + halfValidity), m);
    return hit
      ? { der: hit.der, status: 'successful', cacheable: { thisUpdate: hit.this_update, nextUpdate: hit.next_update } }
      : undefined;
  }

  /**
   * Signs and stores the response of one serial. The serial's advisory lock is held shared
   * while its status is read and the response stored: a revocation takes it exclusively
   * before deleting the stored responses, so no fill writes back a status read before it.
   * A response stored meanwhile (by a fill that just ended here, or another replica) is
   * used instead of signing again.
   */
  private async fill(ca: ResolvedCa, certId: OcspCertId, key: OcspCacheKey): Promise<Filled> {
    const responder = this.responders.available ? await this.responders.forCa(ca.id) : undefined;
    const connector = await this.connector(ca.id);
    return this.repo.ds.transaction(async (m) => {
      await lockShared(m, ocspLockKey(ca.id, key.serial));
      const raced = await this.fresh(key, m);
      if (raced) return { answer: raced, known: true };
      const statuses = await this.repo.statuses(ca.id, [key.serial], m);
      const answer = await this.signWith(connector, responder, ca, [certId], statuses, undefined);
      // Unknown serials are not stored: anyone can ask for any number of them.
      if (statuses[0].known && answer.cacheable) {
        await this.repo.saveOcsp(m, key, answer.der, answer.cacheable.thisUpdate, answer.cacheable.nextUpdate);
      }
      return { answer, known: statuses[0].known };
    });
  }

  private async sign(
    ca: ResolvedCa,
    certIds: OcspCertId[],
    statuses: SerialStatus[],
    nonce: Buffer | undefined,
  ): Promise<OcspAnswer> {
    const responder = this.responders.available ? await this.responders.forCa(ca.id) : undefined;
    return this.signWith(await this.connector(ca.id), responder, ca, certIds, statuses, nonce);
  }

  private async signWith(
    connector: IssuerConnector,
    responder: LoadedResponder | undefined,
    ca: ResolvedCa,
    certIds: OcspCertId[],
    statuses: SerialStatus[],
    nonce: Buffer | undefined,
  ): Promise<OcspAnswer> {
    if (!connector.signOcsp) throw new Error(`CA ${ca.id}: its connector does not sign OCSP responses`);
    const now = Math.floor(Date.now() / 1000) * 1000;
    const thisUpdate = new Date(now);
    const limit = Math.min(responder ? responder.notAfter.getTime() : Infinity, ca.not_after.getTime());
    const nextUpdate = new Date(
      Math.min(now + this.config.pki.ocspResponseValidityMs, Math.floor(limit / 1000) * 1000),
    );
    if (nextUpdate.getTime() <= now) throw new DomainError(ErrorCode.Unavailable, `CA ${ca.id} has expired`);
    const responses: OcspSingleResponse[] = certIds.map((certId, i) => {
      const s = statuses[i];
      const base = { certId, thisUpdate, nextUpdate };
      if (!s.known) return { ...base, status: 'unknown' };
      if (s.revokedAt) return { ...base, status: 'revoked', revokedAt: s.revokedAt, reason: s.reason };
      return { ...base, status: 'good' };
    });
    const der = await connector.signOcsp({
      responses,
      responder: responder?.identity,
      nonce,
      producedAt: thisUpdate,
    });
    return { der, status: 'successful', ...(nonce ? {} : { cacheable: { thisUpdate, nextUpdate } }) };
  }

  /** The CA's connector (signOcsp ignores the issuer's mutable settings, so one per CA is kept). */
  private connector(caId: string): Promise<IssuerConnector> {
    let p = this.connectors.get(caId);
    if (!p) {
      p = this.issuerConnectors.forCa(caId).then((r) => r.connector);
      this.connectors.set(caId, p);
      p.catch(() => this.connectors.delete(caId));
    }
    return p;
  }
}

/** A pre-signed answer, and whether the CA signed the serial (only those are kept). */
interface Filled {
  answer: OcspAnswer;
  known: boolean;
}

function errorAnswer(status: OcspErrorStatus, problem: string): OcspAnswer {
  return { der: ocspErrorResponse(status), status, problem };
}

function formOf(certId: OcspCertId): string {
  return `${certId.hashAlgorithm === 'SHA-1' ? 'sha1' : 'sha256'}${certId.hashParameters === 'absent' ? '-noparams' : ''}`;
}

/** Lower-case hex without leading zero octets (the form certctl stores), or undefined. */
export function canonicalSerial(input: string): string | undefined {
  const cleaned = input.replace(/:/g, '');
  if (!HEX_SERIAL.test(cleaned)) return undefined;
  let hex = cleaned.toLowerCase().replace(/^0+/, '');
  if (hex.length === 0) return undefined;
  if (hex.length % 2 === 1) hex = `0${hex}`;
  // Serials with the high bit set are encoded with a leading zero octet: at most 20 octets of value.
  return hex.length <= 40 ? hex : undefined;
}
