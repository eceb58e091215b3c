import { Module } from '@nestjs/common';

/** Bounded context `certificates`: controllers, services and repositories register here. */
@Module({})
export class CertificatesModule {}
