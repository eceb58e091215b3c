import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { IssuanceModule } from '../issuance/issuance.module';
import { JobsModule } from '../jobs/jobs.module';
import { AgentWorkController } from './agent-work.controller';
import { AgentWorkRepository } from './agent-work.repository';
import { AgentWorkService } from './agent-work.service';

/** The agent work API: polling, CSR submission, deployment job reports, certificate fetch. */
@Module({
  imports: [AuditModule, IssuanceModule, JobsModule],
  controllers: [AgentWorkController],
  providers: [AgentWorkRepository, AgentWorkService],
})
export class AgentWorkModule {}
