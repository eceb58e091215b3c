import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { RenewalPoliciesController } from './renewal-policies.controller';
import { RenewalPoliciesRepository } from './renewal-policies.repository';
import { RenewalPoliciesService } from './renewal-policies.service';
import { RenewalPolicyEntity } from './renewal-policy.entity';

/** Bounded context `renewal-policies`: when certificates renew and alert, optionally scoped to an agent group. */
@Module({
  imports: [TypeOrmModule.forFeature([RenewalPolicyEntity]), AuditModule],
  controllers: [RenewalPoliciesController],
  providers: [RenewalPoliciesRepository, RenewalPoliciesService],
  exports: [RenewalPoliciesRepository],
})
export class RenewalPoliciesModule {}
