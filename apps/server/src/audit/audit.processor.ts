import { Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job } from 'bullmq';
import { JobName, QueueName, type ApiCallAuditPayload } from '@certctl/domain';
import { AuditService } from './audit.service';

@Processor(QueueName.Audit)
export class AuditProcessor extends WorkerHost {
  constructor(private readonly audit: AuditService) {
    super();
  }

  async process(job: Job<ApiCallAuditPayload, void, string>): Promise<void> {
    switch (job.name) {
      case JobName.RecordApiCall:
        return this.audit.persistQueuedApiCall(job.data);
      default:
        throw new Error(`unknown job ${job.name} on queue ${QueueName.Audit}`);
    }
  }
}
