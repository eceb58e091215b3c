import { Module } from '@nestjs/common';

/** Bounded context `notifications`: controllers, services and repositories register here. */
@Module({})
export class NotificationsModule {}
