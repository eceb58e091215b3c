import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { CrlService } from './crl.service';
import { crlLockKey, lockExclusive, lockShared, ocspLockKey, PkiRepository } from './pki.repository';

/**
 * What a revocation does to the CRL and OCSP caches of the CA that signed the certificate.
 * Inside the revocation's transaction: the pre-signed OCSP responses of the serial are
 * deleted and the CA's CRL is marked stale, under the locks that keep concurrent cache
 * fills from writing back what they read before the revocation (an OCSP fill holds the
 * serial's lock shared while it reads and stores; a CRL generation holds the CA's lock
 * exclusively). After commit, the CRL is regenerated in the background.
 */
@Injectable()
export class RevocationCaches {
  constructor(
    private readonly repo: PkiRepository,
    private readonly crls: CrlService,
  ) {}

  async invalidate(m: EntityManager, caId: string, serial: string): Promise<void> {
    await lockShared(m, crlLockKey(caId));
    await lockExclusive(m, ocspLockKey(caId, serial));
    await this.repo.deleteOcsp(m, caId, serial);
    await this.repo.markCrlStale(m, caId);
  }

  afterCommit(caIds: Iterable<string>): void {
    for (const caId of new Set(caIds)) this.crls.afterRevocation(caId);
  }
}
