import { Module } from '@nestjs/common';
import { CaModule } from '../ca/ca.module';
import { EnrollmentModule } from '../enrollment/enrollment.module';
import { ScepAdminController } from './scep-admin.controller';
import { ScepRaService } from './scep-ra.service';
import { ScepReplayGuard } from './scep-replay';
import { ScepController } from './scep.controller';
import { ScepService } from './scep.service';

/**
 * SCEP (RFC 8894) under /scep[/{label}]: RA material per label, replay protection in Redis,
 * enrollment through EnrollmentService (CrlService comes from the global PkiEndpointsModule).
 */
@Module({
  imports: [EnrollmentModule, CaModule],
  controllers: [ScepController, ScepAdminController],
  providers: [ScepRaService, ScepReplayGuard, ScepService],
})
export class ScepModule {}
