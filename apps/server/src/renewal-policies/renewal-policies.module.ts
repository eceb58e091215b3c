import { Module } from '@nestjs/common';

/** Bounded context `renewal-policies`: controllers, services and repositories register here. */
@Module({})
export class RenewalPoliciesModule {}
