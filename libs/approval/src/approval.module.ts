import { DynamicModule, Module, type Provider } from '@nestjs/common';
import { ApprovalRepository } from './approval.repository';
import { ApprovalWorkflow } from './approval-workflow';
import { ApprovalAudit, ApprovalMetrics, ApprovalSettings } from './ports';

export interface ApprovalModuleOptions {
  /** Bindings of the ports to the host application's audit log, metrics and settings. */
  providers: Provider[];
  imports?: DynamicModule['imports'];
}

/**
 * The approval workflow as a Nest module. The host binds ApprovalAudit, ApprovalMetrics and
 * ApprovalSettings (see ports.ts) and registers an ApprovalApplier per request kind.
 */
@Module({})
export class ApprovalModule {
  static forRoot(options: ApprovalModuleOptions): DynamicModule {
    return {
      module: ApprovalModule,
      imports: options.imports ?? [],
      providers: [ApprovalRepository, ApprovalWorkflow, ...options.providers],
      exports: [ApprovalRepository, ApprovalWorkflow, ApprovalAudit, ApprovalMetrics, ApprovalSettings],
    };
  }
}
