import type { DefaultJobOptions } from 'bullmq';

/**
 * Set once for every queue: retries with exponential backoff, and bounded retention of
 * completed AND failed jobs (failures stay long enough to investigate, never forever).
 */
export const DEFAULT_JOB_OPTIONS: DefaultJobOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 2_000 },
  removeOnComplete: { age: 24 * 3600, count: 1_000 },
  removeOnFail: { age: 14 * 24 * 3600, count: 10_000 },
};
