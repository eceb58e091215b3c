import { Module } from '@nestjs/common';

/** Bounded context `issuers`: controllers, services and repositories register here. */
@Module({})
export class IssuersModule {}
