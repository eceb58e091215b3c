import { Module } from '@nestjs/common';

/** Bounded context `agents`: controllers, services and repositories register here. */
@Module({})
export class AgentsModule {}
