import { Module } from '@nestjs/common';

/** Bounded context `profiles`: controllers, services and repositories register here. */
@Module({})
export class ProfilesModule {}
