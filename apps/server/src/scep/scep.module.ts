import { Module } from '@nestjs/common';

/** SCEP (RFC 8894) under /scep[/{label}]. */
@Module({})
export class ScepModule {}
