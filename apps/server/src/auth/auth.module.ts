import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { AgentBootstrapService } from './agent-bootstrap';
import { AuthController } from './auth.controller';
import { AuthGuard } from './auth.guard';
import { AuthRepository } from './auth.repository';
import { AuthService } from './auth.service';
import { KeysController } from './keys.controller';
import { RbacRepository } from './rbac.repository';
import { RbacService } from './rbac.service';
import { RolesController } from './roles.controller';

@Module({
  imports: [AuditModule],
  controllers: [AuthController, RolesController, KeysController],
  providers: [AuthRepository, AuthService, AgentBootstrapService, AuthGuard, RbacRepository, RbacService],
  exports: [AuthService, AuthGuard, AuthRepository],
})
export class AuthModule {}
