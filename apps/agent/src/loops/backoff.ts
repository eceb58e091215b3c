/** Retry and pacing arithmetic for the agent's loops (pure; `random` injectable for tests). */

export type Random = () => number;

export interface BackoffPolicy {
  /** Delay bound after the first failure. */
  baseMs: number;
  /** Ceiling of any delay (5 min by default). */
  maxMs: number;
}

/**
 * Delay before retrying after `failures` consecutive failures (>= 1): exponential
 * (base * 2^(failures-1)) capped at max, with "equal jitter" (half fixed, half random) so a
 * fleet that lost the server together does not come back in lockstep.
 */
export function backoffDelay(failures: number, policy: BackoffPolicy, random: Random = Math.random): number {
  const n = Math.max(1, Math.floor(failures));
  // 2^n overflows to Infinity for large n, which Math.min caps.
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** (n - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}

/** `intervalMs` spread by +/- `fraction` (default 10 %). */
export function withJitter(intervalMs: number, fraction = 0.1, random: Random = Math.random): number {
  return Math.max(0, Math.round(intervalMs * (1 - fraction + 2 * fraction * random())));
}

/** Random delay before a loop's first run: up to a tenth of its interval, at most 5 s. */
export function startOffset(intervalMs: number, random: Random = Math.random): number {
  return Math.round(random() * Math.min(intervalMs / 10, 5_000));
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
