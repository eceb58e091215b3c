import { Module } from '@nestjs/common';

/** Bounded context `owners`: controllers, services and repositories register here. */
@Module({})
export class OwnersModule {}
