import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { QueueName } from '@certctl/domain';
import { AuditModule } from '../audit/audit.module';
import { JobDispatcher, JobHandlerRegistry, JobLoops, JobRunner } from './job-engine';
import { JobEngineRepository } from './job-engine.repository';
import { JobFactory } from './job-factory';
import { JobEntity } from './job.entity';
import { JobsController } from './jobs.controller';
import { JobsRepository } from './jobs.repository';
import { JobsService } from './jobs.service';

@Module({
  imports: [TypeOrmModule.forFeature([JobEntity]), BullModule.registerQueue({ name: QueueName.Jobs }), AuditModule],
  controllers: [JobsController],
  providers: [
    JobsRepository,
    JobsService,
    JobEngineRepository,
    JobHandlerRegistry,
    JobDispatcher,
    JobRunner,
    JobLoops,
    JobFactory,
  ],
  exports: [JobsRepository, JobsService, JobHandlerRegistry, JobDispatcher, JobFactory, JobEngineRepository, JobRunner],
})
export class JobsModule {}
