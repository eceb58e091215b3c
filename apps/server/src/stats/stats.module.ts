import { Module } from '@nestjs/common';

/** Bounded context `stats`: controllers, services and repositories register here. */
@Module({})
export class StatsModule {}
