import type { AcmeChallengeType } from './acme-config';

/**
 * Caps how many validations of one challenge type run at once in this replica
 * (CERTCTL_ACME_SERVER_{HTTP01,DNS01,TLSALPN01}_CONCURRENCY): one slow resolver or an
 * unreachable port range cannot take every worker slot from the other types. The queue
 * worker runs as many jobs as all types together; a job beyond its type's cap waits here.
 */
export class ValidationSlots {
  private readonly running = new Map<AcmeChallengeType, number>();
  private readonly waiting = new Map<AcmeChallengeType, Array<() => void>>();

  constructor(private readonly limits: Readonly<Record<AcmeChallengeType, number>>) {}

  /** Total across types: the queue worker's concurrency. */
  get total(): number {
    return Object.values(this.limits).reduce((a, b) => a + b, 0);
  }

  async run<T>(type: AcmeChallengeType, fn: () => Promise<T>): Promise<T> {
    await this.acquire(type);
    try {
      return await fn();
    } finally {
      this.release(type);
    }
  }

  private acquire(type: AcmeChallengeType): Promise<void> {
    const n = this.running.get(type) ?? 0;
    if (n < this.limits[type]) {
      this.running.set(type, n + 1);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const queue = this.waiting.get(type) ?? [];
      queue.push(resolve);
      this.waiting.set(type, queue);
    });
  }

  private release(type: AcmeChallengeType): void {
    // The slot passes straight to the next waiter, so the running count stays the same.
    const next = this.waiting.get(type)?.shift();
    if (next) next();
    else this.running.set(type, (this.running.get(type) ?? 1) - 1);
  }
}
