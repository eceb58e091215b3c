import { Module } from '@nestjs/common';

/** EST (RFC 7030) under /.well-known/est[/{label}]. */
@Module({})
export class EstModule {}
