import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import * as pkijs from 'pkijs';
import { DomainError, ErrorCode, IssuerType } from '@certctl/domain';
import { pemToDers } from '@certctl/pki';
import { PkiRepository, type ServedCa } from './pki.repository';

export interface ResolvedCa extends ServedCa {
  /** The CA certificate, DER: one object per CA so libs/pki caches what it derives from it. */
  certDer: Uint8Array;
  /** SHA-1 of its subject Name and of its public key (the CertID of the serial-only GET form). */
  sha1NameHash: Buffer;
  sha1KeyHash: Buffer;
}

const MAX_CACHED = 1024;

const missing = (message: string): DomainError => new DomainError(ErrorCode.NotFound, message);

/**
 * Maps the id in a CRL/OCSP URL to the CA it names (urlIdOf): the issuer id for the top
 * CA, the CA id for an intermediate. CA rows never change what they name, so positive
 * answers are kept in process (bounded); unknown ids are looked up every time.
 */
@Injectable()
export class ServedCaResolver {
  private readonly cache = new Map<string, ResolvedCa>();

  constructor(private readonly repo: PkiRepository) {}

  /** 404 naming the id when it names no CA this server signs revocation data for. */
  async resolve(urlId: string): Promise<ResolvedCa> {
    const hit = this.cache.get(urlId);
    if (hit) return hit;
    const ca = await this.repo.servedCa(urlId);
    if (!ca) {
      const type = await this.repo.issuerType(urlId);
      if (type && type !== IssuerType.LocalCA) {
        throw missing(`issuer ${urlId} is a ${type} issuer: its CA publishes its own CRL and OCSP`);
      }
      if (type) throw missing(`issuer ${urlId} has not issued a certificate yet: it has no CA`);
      throw missing(`no issuer or intermediate CA ${urlId}`);
    }
    if (ca.issuer_type !== IssuerType.LocalCA) {
      throw missing(`issuer ${ca.issuer_id} is a ${ca.issuer_type} issuer: its CA publishes its own CRL and OCSP`);
    }
    const [certDer] = pemToDers(ca.cert_pem, ['CERTIFICATE'], 'issuer_cas.cert_pem');
    // The subject exactly as encoded, and the subjectPublicKey BIT STRING contents (RFC 6960 4.1.1).
    const parsed = pkijs.Certificate.fromBER(certDer);
    const sha1 = (data: ArrayBuffer | Uint8Array): Buffer => createHash('sha1').update(new Uint8Array(data)).digest();
    const resolved: ResolvedCa = {
      ...ca,
      certDer,
      sha1NameHash: sha1(parsed.subject.valueBeforeDecode),
      sha1KeyHash: sha1(parsed.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView),
    };
    this.cache.set(urlId, resolved);
    if (this.cache.size > MAX_CACHED) this.cache.delete(this.cache.keys().next().value as string);
    return resolved;
  }
}
