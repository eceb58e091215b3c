import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { TargetEntity } from './target.entity';
import { TargetsController } from './targets.controller';
import { TargetsRepository } from './targets.repository';
import { TargetsService } from './targets.service';

/** Bounded context `targets`: where agents deploy certificates; configs sealed at rest. */
@Module({
  imports: [TypeOrmModule.forFeature([TargetEntity]), AuditModule],
  controllers: [TargetsController],
  providers: [TargetsRepository, TargetsService],
  exports: [TargetsRepository],
})
export class TargetsModule {}
