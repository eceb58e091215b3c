import { Module } from '@nestjs/common';
import { AuthController } from './auth.controller';
import { AuthGuard } from './auth.guard';
import { AuthRepository } from './auth.repository';
import { AuthService } from './auth.service';

@Module({
  controllers: [AuthController],
  providers: [AuthRepository, AuthService, AuthGuard],
  exports: [AuthService, AuthGuard, AuthRepository],
})
export class AuthModule {}
