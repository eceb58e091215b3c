import { Module } from '@nestjs/common';

/** Bounded context `policies`: controllers, services and repositories register here. */
@Module({})
export class PoliciesModule {}
