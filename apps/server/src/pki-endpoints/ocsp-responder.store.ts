import { Injectable, Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { IdPrefix, newId } from '@certctl/domain';
import {
  createOcspResponderCertificate,
  importPrivateKeyPem,
  ocspResponderNeedsRotation,
  type SigningIdentity,
} from '@certctl/pki';
import { AuditRepository, SYSTEM_ACTOR } from '../audit/audit.repository';
import { CaStore } from '../ca/ca-store';
import { AppConfig } from '../config/config.schema';
import { ocspResponderKeyContext } from '../secrets/seal-contexts';
import { SecretBox } from '../secrets/secret-box';
import { lockExclusive, PkiRepository } from './pki.repository';


export interface LoadedResponder {
  id: string;
  identity: SigningIdentity;
  notAfter: Date;
  /** When this process stops using it and looks for (or makes) a newer one. */
  rotateAt: number;
}

const DAY_MS = 86_400_000;

/**
 * The delegated OCSP responder of each CA (RFC 6960 4.2.2.2: id-kp-OCSPSigning +
 * ocsp-nocheck, issued by the CA): created on first use, its key sealed like the CA's,
 * replaced once less than max(CERTCTL_OCSP_RESPONDER_ROTATION_GRACE,
 * CERTCTL_OCSP_RESPONSE_VALIDITY) of its life is left. One creation across replicas (an
 * advisory lock per CA); each process keeps the opened identity until its rotation time
 * (rows never change, so that is not state another replica needs).
 */
@Injectable()
export class OcspResponderStore {
  private readonly logger = new Logger(OcspResponderStore.name);
  private readonly loaded = new Map<string, Promise<LoadedResponder>>();

  constructor(
    private readonly repo: PkiRepository,
    private readonly cas: CaStore,
    private readonly box: SecretBox,
    private readonly audit: AuditRepository,
    private readonly config: AppConfig,
  ) {}

  /** True when responders can be stored (their keys are sealed with the config key). */
  get available(): boolean {
    return this.box.enabled;
  }

  /** The responder to sign with for `caId` now. */
  async forCa(caId: string): Promise<LoadedResponder> {
    const cached = this.loaded.get(caId);
    if (cached) {
      const r = await cached;
      if (Date.now() < r.rotateAt) return r;
      if (this.loaded.get(caId) === cached) this.loaded.delete(caId);
    }
    let p = this.loaded.get(caId);
    if (!p) {
      p = this.load(caId);
      this.loaded.set(caId, p);
      p.catch(() => this.loaded.delete(caId));
    }
    return p;
  }

  private rotationFraction(): number {
    const { ocspResponderValidityMs, ocspResponderRotationGraceMs, ocspResponseValidityMs } = this.config.pki;
    const f = Math.max(ocspResponderRotationGraceMs, ocspResponseValidityMs) / ocspResponderValidityMs;
    return Math.min(0.9, Math.max(0.01, f));
  }

  private async load(caId: string): Promise<LoadedResponder> {
    const fraction = this.rotationFraction();
    const usable = (row: { cert_pem: string } | undefined) =>
      row !== undefined && !ocspResponderNeedsRotation(row.cert_pem, new Date(), fraction);
    const existing = await this.repo.currentResponder(caId);
    const row = usable(existing)
      ? existing
      : await this.repo.ds.transaction(async (m) => {
          await lockExclusive(m, `ocsp-responder:${caId}`);
          const raced = await this.repo.currentResponder(caId, m);
          if (usable(raced)) return raced;
          return this.create(m, caId);
        });
    if (!row) throw new Error(`OCSP responder of CA ${caId} was not stored`);
    const opened = await this.box.open(row.sealed_key, ocspResponderKeyContext(row.id));
    const key = await importPrivateKeyPem(String(opened.private_key_pem), {
      field: 'ocsp_responder.key',
      extractable: false,
    });
    const notAfter = row.not_after;
    const lifetime = notAfter.getTime() - Date.now();
    return {
      id: row.id,
      identity: { certificate: row.cert_pem, privateKey: key.privateKey },
      notAfter,
      // Rotate when the fraction is reached; re-check at least hourly for a newer row.
      rotateAt: Date.now() + Math.max(0, Math.min(lifetime * (1 - fraction), 3_600_000)),
    };
  }

  private async create(
    m: EntityManager,
    caId: string,
  ): Promise<{ id: string; cert_pem: string; sealed_key: Buffer; not_after: Date }> {
    const ca = await this.cas.load(caId);
    const created = await createOcspResponderCertificate(
      { certificate: ca.signer.certDer, privateKey: ca.signer.privateKey },
      this.config.pki.ocspResponderValidityMs / DAY_MS,
    );
    const id = newId(IdPrefix.OcspResponder);
    const sealedKey = await this.box.seal({ private_key_pem: created.privateKeyPem }, ocspResponderKeyContext(id));
    await this.repo.insertResponder(m, {
      id,
      caId,
      certPem: created.certificatePem,
      sealedKey,
      notBefore: created.notBefore,
      notAfter: created.notAfter,
    });
    await this.audit.recordDomain(m, SYSTEM_ACTOR, 'ocsp_responder_created', 'issuer', ca.row.issuer_id, {
      ca_id: caId,
      responder_id: id,
      serial_number: created.serialHex,
      not_after: created.notAfter,
    });
    this.logger.log(`CA ${caId}: new OCSP responder ${id} valid until ${created.notAfter.toISOString()}`);
    return { id, cert_pem: created.certificatePem, sealed_key: sealedKey, not_after: created.notAfter };
  }
}
