import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { AuthModule } from '../auth/auth.module';
import { AgentEntity } from './agent.entity';
import { AgentGroupEntity } from './agent-group.entity';
import { AgentGroupsController } from './agent-groups.controller';
import { AgentGroupsRepository } from './agent-groups.repository';
import { AgentGroupsService } from './agent-groups.service';
import { AgentHealthRepository } from './agent-health.repository';
import { AgentHealthService } from './agent-health.service';
import { AgentsController } from './agents.controller';
import { AgentsRepository } from './agents.repository';
import { AgentsService } from './agents.service';

/** Bounded context `agents`: agents (registration, heartbeat, soft retirement) and agent groups. */
@Module({
  imports: [TypeOrmModule.forFeature([AgentEntity, AgentGroupEntity]), AuditModule, AuthModule],
  controllers: [AgentsController, AgentGroupsController],
  providers: [
    AgentsRepository,
    AgentsService,
    AgentGroupsRepository,
    AgentGroupsService,
    AgentHealthRepository,
    AgentHealthService,
  ],
  exports: [AgentsRepository, AgentGroupsRepository],
})
export class AgentsModule {}
