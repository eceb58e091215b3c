import { BullModule } from '@nestjs/bullmq';
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { QueueName } from '@certctl/domain';
import { AuditModule } from '../audit/audit.module';
import { DeliveryRepository } from './delivery.repository';
import {
  NotificationDispatcher,
  NotificationLoops,
  NotificationSender,
  NotificationWorker,
  Notifiers,
} from './delivery.service';
import { DigestController } from './digest.controller';
import { DigestLoop, DigestRepository, DigestService } from './digest.service';
import { NotificationEventEntity } from './notification-event.entity';
import { NotificationListener } from './notification-listener';
import { NotificationsController } from './notifications.controller';
import { NotificationsRepository } from './notifications.repository';
import { NotificationsService } from './notifications.service';

/**
 * Bounded context `notifications`: the inbox API and delivery (routing to the configured
 * channels, the `notifications` queue and its worker, retry with backoff, dead letter), and the digest.
 */
@Module({
  imports: [
    TypeOrmModule.forFeature([NotificationEventEntity]),
    BullModule.registerQueue({ name: QueueName.Notifications }),
    AuditModule,
  ],
  controllers: [NotificationsController, DigestController],
  providers: [
    NotificationsRepository,
    NotificationsService,
    DeliveryRepository,
    Notifiers,
    NotificationDispatcher,
    NotificationSender,
    NotificationWorker,
    NotificationLoops,
    NotificationListener,
    DigestRepository,
    DigestService,
    DigestLoop,
  ],
  exports: [NotificationsRepository, NotificationDispatcher],
})
export class NotificationsModule {}
