import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { NotificationEventEntity } from './notification-event.entity';
import { NotificationsController } from './notifications.controller';
import { NotificationsRepository } from './notifications.repository';
import { NotificationsService } from './notifications.service';

/** Bounded context `notifications`: the notification inbox (read side; delivery comes later). */
@Module({
  imports: [TypeOrmModule.forFeature([NotificationEventEntity]), AuditModule],
  controllers: [NotificationsController],
  providers: [NotificationsRepository, NotificationsService],
  exports: [NotificationsRepository],
})
export class NotificationsModule {}
