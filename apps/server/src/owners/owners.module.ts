import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { OwnerEntity } from './owner.entity';
import { OwnersController } from './owners.controller';
import { OwnersRepository } from './owners.repository';
import { OwnersService } from './owners.service';

/** Bounded context `owners`: the people responsible for certificates. */
@Module({
  imports: [TypeOrmModule.forFeature([OwnerEntity]), AuditModule],
  controllers: [OwnersController],
  providers: [OwnersRepository, OwnersService],
  exports: [OwnersRepository],
})
export class OwnersModule {}
