import { Global, Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { CaModule } from '../ca/ca.module';
import { CrlCacheController } from './crl-cache.controller';
import { CrlService } from './crl.service';
import { OcspFastPath } from './ocsp-fast-path';
import { OcspHotCache } from './ocsp-hot-cache';
import { OcspRateLimiter } from './ocsp-rate-limiter';
import { OcspResponderStore } from './ocsp-responder.store';
import { OcspService } from './ocsp.service';
import { PkiController } from './pki.controller';
import { PkiRepository } from './pki.repository';
import { RevocationCaches } from './revocation-caches';
import { ScriptCrlService } from './script-crl.service';
import { ServedCaResolver } from './served-ca.resolver';

/**
 * CRL and OCSP endpoints of the CAs this server holds, their caches, the CRL loop, and
 * RevocationCaches (global: the revocation service invalidates the caches in its
 * transaction without the certificates context importing this one). OcspFastPath mounts
 * the OCSP cache-hit handler in front of the HTTP pipeline.
 */
@Global()
@Module({
  imports: [AuditModule, CaModule],
  controllers: [PkiController, CrlCacheController],
  providers: [
    PkiRepository,
    ServedCaResolver,
    CrlService,
    ScriptCrlService,
    OcspResponderStore,
    OcspHotCache,
    OcspService,
    OcspRateLimiter,
    OcspFastPath,
    RevocationCaches,
  ],
  exports: [RevocationCaches, CrlService, OcspService],
})
export class PkiEndpointsModule {}
