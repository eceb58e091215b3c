import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { QueueName } from '@certctl/domain';
import { AuditModule } from '../audit/audit.module';
import { CaModule } from '../ca/ca.module';
import { JobsModule } from '../jobs/jobs.module';
import { PoliciesModule } from '../policies/policies.module';
import { IssuanceService } from './issuance.service';
import { IssuerOrderLoop, IssuerOrderWorker } from './issuer-order-poller';
import { IssuerOrderQueue } from './issuer-order-queue';
import { IssuerOrdersRepository } from './issuer-orders.repository';

/** Issuance and renewal jobs, the agent's CSR completion, and pending orders of asynchronous CAs. */
@Module({
  imports: [
    AuditModule,
    CaModule,
    JobsModule,
    PoliciesModule,
    BullModule.registerQueue({ name: QueueName.IssuerOrders }),
  ],
  providers: [IssuanceService, IssuerOrdersRepository, IssuerOrderQueue, IssuerOrderWorker, IssuerOrderLoop],
  exports: [IssuanceService],
})
export class IssuanceModule {}
