import { Module, type OnModuleInit } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApprovalKind } from '@certctl/domain';
import { ApprovalWorkflow } from '@certctl/approval';
import { ApprovalsModule } from '../approvals/approvals.module';
import { AuditModule } from '../audit/audit.module';
import { ProfileEntity } from './profile.entity';
import { ProfilesController } from './profiles.controller';
import { ProfilesRepository } from './profiles.repository';
import { ProfilesService } from './profiles.service';

/** Bounded context `profiles`: certificate profiles (crypto and SAN constraints for issuance). */
@Module({
  imports: [TypeOrmModule.forFeature([ProfileEntity]), AuditModule, ApprovalsModule],
  controllers: [ProfilesController],
  providers: [ProfilesRepository, ProfilesService],
  exports: [ProfilesRepository],
})
export class ProfilesModule implements OnModuleInit {
  constructor(
    private readonly workflow: ApprovalWorkflow,
    private readonly profiles: ProfilesService,
  ) {}

  /** Approved profile edits are applied here; refused ones change nothing (the workflow audits them). */
  onModuleInit(): void {
    this.workflow.register(ApprovalKind.ProfileEdit, {
      approved: (m, request, actor) => this.profiles.applyApprovedEdit(m, request, actor),
      refused: () => Promise.resolve(),
    });
  }
}
