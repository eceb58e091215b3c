import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { Job } from 'bullmq';
import { QueueName, type ValidateAcmeChallengePayload } from '@certctl/domain';
import { AcmeService } from './acme.service';

/**
 * Validates ACME challenges off the request path. The payload is only the challenge id:
 * the authorization row is re-read, so a replayed or late message changes nothing once the
 * row has left `processing`. A failed attempt is thrown back to BullMQ (its retry and
 * backoff) until the last one, which marks the challenge invalid. It takes as many jobs at
 * once as the per-type caps add up to; AcmeService's slots hold each type to its own cap.
 */
@Processor(QueueName.AcmeValidation, { concurrency: 4 })
export class AcmeValidationWorker extends WorkerHost implements OnApplicationBootstrap {
  private readonly logger = new Logger(AcmeValidationWorker.name);

  constructor(private readonly acme: AcmeService) {
    super();
  }

  onApplicationBootstrap(): void {
    let worker: WorkerHost['worker'];
    try {
      worker = this.worker;
    } catch {
      return; // an api replica registers no worker
    }
    worker.concurrency = this.acme.slots.total;
  }

  async process(message: Job<ValidateAcmeChallengePayload>): Promise<string> {
    const attempts = message.opts.attempts ?? 1;
    const last = message.attemptsMade + 1 >= attempts;
    const outcome = await this.acme.validateChallenge(message.data.challenge_id, last);
    if (outcome === 'retry') throw new Error(`challenge ${message.data.challenge_id} did not validate yet`);
    return outcome;
  }

  @OnWorkerEvent('failed')
  onFailed(message: Job | undefined, err: Error): void {
    this.logger.debug(`ACME validation ${message?.id ?? '?'}: ${err.message}`);
  }
}
