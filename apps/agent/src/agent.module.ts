import { Module, type DynamicModule } from '@nestjs/common';
import { scanDirectories, targetConnector } from '@certctl/connectors';
import type { TargetType } from '@certctl/domain';
import type { AgentConfig } from './config/agent-config';
import { AgentLogger } from './logging/agent-logger';
import { AgentRunner } from './runner/agent-runner';
import {
  AGENT_CONFIG,
  DISCOVERY_SCANNER,
  TARGET_CONNECTORS,
  type DiscoveryScanner,
  type TargetConnectorLookup,
} from './tokens';

/** The agent: no HTTP server of its own, only loops that call the certctl server. */
@Module({})
export class AgentModule {
  static forRoot(config: AgentConfig, logger: AgentLogger): DynamicModule {
    return {
      module: AgentModule,
      providers: [
        { provide: AGENT_CONFIG, useValue: config },
        { provide: AgentLogger, useValue: logger },
        {
          provide: TARGET_CONNECTORS,
          useValue: ((type: string) => targetConnector(type as TargetType)) satisfies TargetConnectorLookup,
        },
        { provide: DISCOVERY_SCANNER, useValue: scanDirectories satisfies DiscoveryScanner },
        AgentRunner,
      ],
    };
  }
}
