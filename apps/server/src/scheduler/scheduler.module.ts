import { BullModule } from '@nestjs/bullmq';
import { Global, Module } from '@nestjs/common';
import { QueueName } from '@certctl/domain';
import { LoopRegistry } from './loop-registry';
import { SchedulerProcessor, SchedulerService } from './scheduler.service';

/** Periodic loops, once per tick across replicas. Contexts register with LoopRegistry. */
@Global()
@Module({
  imports: [BullModule.registerQueue({ name: QueueName.Scheduler })],
  providers: [LoopRegistry, SchedulerService, SchedulerProcessor],
  exports: [LoopRegistry],
})
export class SchedulerModule {}
