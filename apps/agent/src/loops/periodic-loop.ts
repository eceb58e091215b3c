import { backoffDelay, sleep, startOffset, withJitter, type BackoffPolicy, type Random } from './backoff';

/** Thrown by a task to end every loop (the agent was retired, or cannot go on). */
export class StopAgent extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'StopAgent';
  }
}

export interface LoopOptions {
  name: string;
  intervalMs: number;
  backoff: BackoffPolicy;
  /** Called after each failed run with the error and the delay chosen. */
  onFailure?: (error: unknown, failures: number, retryInMs: number) => void;
  /** Called on the first success after failures. */
  onRecovery?: (failures: number) => void;
  random?: Random;
  /** Skip the random start offset (run at once). */
  immediate?: boolean;
}

/**
 * Runs `task` every interval (with jitter) until `signal` aborts; a failed run is retried
 * with exponential backoff instead. A `StopAgent` from the task ends the loop by rejecting.
 * The task itself is never interrupted: an abort is noticed between runs.
 */
export async function runLoop(task: () => Promise<void>, opts: LoopOptions, signal: AbortSignal): Promise<void> {
  const random = opts.random ?? Math.random;
  let failures = 0;
  if (!opts.immediate) await sleep(startOffset(opts.intervalMs, random), signal);
  while (!signal.aborted) {
    let delay: number;
    try {
      await task();
      if (failures > 0) opts.onRecovery?.(failures);
      failures = 0;
      delay = withJitter(opts.intervalMs, 0.1, random);
    } catch (e) {
      if (e instanceof StopAgent) throw e;
      failures++;
      delay = backoffDelay(failures, opts.backoff, random);
      opts.onFailure?.(e, failures, delay);
    }
    await sleep(delay, signal);
  }
}
