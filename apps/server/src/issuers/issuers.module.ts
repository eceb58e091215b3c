import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { IssuerEntity } from './issuer.entity';
import { IssuersController } from './issuers.controller';
import { IssuersRepository } from './issuers.repository';
import { IssuersService } from './issuers.service';

/** Bounded context `issuers`: CA connections, their configs sealed at rest. */
@Module({
  imports: [TypeOrmModule.forFeature([IssuerEntity]), AuditModule],
  controllers: [IssuersController],
  providers: [IssuersRepository, IssuersService],
  exports: [IssuersRepository],
})
export class IssuersModule {}
