import { Injectable, Logger } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { CrlService } from './crl.service';
import { OCSP_INVALIDATE_CHANNEL, OcspHotCache } from './ocsp-hot-cache';
import { ScriptCrlService } from './script-crl.service';
import { crlLockKey, lockExclusive, lockShared, ocspLockKey, PkiRepository } from './pki.repository';

/**
 * What a revocation does to the CRL and OCSP caches of the CA that signed the certificate.
 * Inside the revocation's transaction: the pre-signed OCSP responses of the serial are
 * deleted and the CA's CRL is marked stale, under the locks that keep concurrent cache
 * fills from writing back what they read before the revocation (an OCSP fill holds the
 * serial's lock shared while it reads and stores; a CRL generation holds the CA's lock
 * exclusively), and a notification is queued that Postgres delivers on commit only: every
 * replica then drops the serial from its in-process OCSP cache (OcspHotCache). After
 * commit, this replica drops the CA's in-process entries at once (the API call returns a
 * revocation its own OCSP answers already show), and the CRL is regenerated in the
 * background.
 */
@Injectable()
export class RevocationCaches {
  private readonly logger = new Logger(RevocationCaches.name);

  constructor(
    private readonly repo: PkiRepository,
    private readonly crls: CrlService,
    private readonly hot: OcspHotCache,
    private readonly scripts: ScriptCrlService,
  ) {}

  async invalidate(m: EntityManager, caId: string, serial: string): Promise<void> {
    await lockShared(m, crlLockKey(caId));
    await lockExclusive(m, ocspLockKey(caId, serial));
    await this.repo.deleteOcsp(m, caId, serial);
    await this.repo.markCrlStale(m, caId);
    await m.query(`SELECT pg_notify($1, $2)`, [OCSP_INVALIDATE_CHANNEL, `${caId} ${serial}`]);
  }

  afterCommit(caIds: Iterable<string>): void {
    for (const caId of new Set(caIds)) {
      this.hot.invalidateCa(caId);
      this.crls.afterRevocation(caId);
    }
  }

  /**
   * After the issuing CA itself was told (its revoke script ran): a CA outside certctl
   * whose CRL certctl publishes (an OpenSSL-script issuer) gets that CRL remade.
   */
  async afterIssuerRevoked(issuerId: string): Promise<void> {
    // Best effort: the CRL loop and the next request remake what this misses.
    await this.scripts.afterRevocation(issuerId).catch((e: unknown) => {
      this.logger.warn(`issuer ${issuerId}: marking its script CRL stale failed: ${(e as Error).message}`);
    });
  }
}
