import { Module } from '@nestjs/common';

/** Bounded context `targets`: controllers, services and repositories register here. */
@Module({})
export class TargetsModule {}
