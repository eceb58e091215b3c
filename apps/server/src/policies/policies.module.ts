import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { PoliciesController } from './policies.controller';
import { PoliciesRepository } from './policies.repository';
import { PoliciesService } from './policies.service';
import { PolicyEvaluationService } from './policy-evaluation.service';
import { PolicyRuleEntity, PolicyViolationEntity } from './policy.entity';

/**
 * Bounded context `policies`: compliance rules and their violations. Exports the
 * evaluator the certificates context calls inside its writes.
 */
@Module({
  imports: [TypeOrmModule.forFeature([PolicyRuleEntity, PolicyViolationEntity]), AuditModule],
  controllers: [PoliciesController],
  providers: [PoliciesRepository, PoliciesService, PolicyEvaluationService],
  exports: [PolicyEvaluationService],
})
export class PoliciesModule {}
