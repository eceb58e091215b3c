import { backoffDelay, sleep, startOffset, withJitter } from './backoff';
import { runLoop, StopAgent } from './periodic-loop';

const policy = { baseMs: 1_000, maxMs: 300_000 };

describe('backoffDelay', () => {
  it('doubles per failure between half and all of base * 2^(n-1)', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, policy, () => 0))).toEqual([500, 1_000, 2_000, 4_000]);
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, policy, () => 1))).toEqual([1_000, 2_000, 4_000, 8_000]);
  });

  it('never exceeds the 5 minute ceiling, however many failures', () => {
    for (const n of [9, 10, 20, 1_000, 1e9]) {
      const d = backoffDelay(n, policy, () => 0.999);
      expect(d).toBeLessThanOrEqual(300_000);
      expect(d).toBeGreaterThanOrEqual(150_000);
    }
  });

  it('treats 0 or fractional failures as the first', () => {
    expect(backoffDelay(0, policy, () => 1)).toBe(1_000);
    expect(backoffDelay(1.7, policy, () => 1)).toBe(1_000);
  });
});

describe('withJitter / startOffset', () => {
  it('spreads an interval by +/-10 %', () => {
    expect(withJitter(60_000, 0.1, () => 0)).toBe(54_000);
    expect(withJitter(60_000, 0.1, () => 0.5)).toBe(60_000);
    expect(withJitter(60_000, 0.1, () => 1)).toBe(66_000);
    const seen = new Set(Array.from({ length: 50 }, () => withJitter(60_000)));
    expect(seen.size).toBeGreaterThan(1);
    for (const v of seen) expect(v >= 54_000 && v <= 66_000).toBe(true);
  });

  it('starts within a tenth of the interval, at most 5 s', () => {
    expect(startOffset(30_000, () => 1)).toBe(3_000);
    expect(startOffset(6 * 3_600_000, () => 1)).toBe(5_000);
    expect(startOffset(60_000, () => 0)).toBe(0);
  });
});

describe('sleep', () => {
  it('ends early when aborted', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 20);
    await sleep(10_000, ac.signal);
    expect(Date.now() - t0).toBeLessThan(2_000);
  });
});

describe('runLoop', () => {
  const fast = { intervalMs: 10, backoff: { baseMs: 5, maxMs: 40 }, immediate: true };

  it('runs on its interval, backs off on failures (growing, capped) and recovers', async () => {
    const ac = new AbortController();
    const outcomes = ['ok', 'fail', 'fail', 'fail', 'fail', 'fail', 'ok', 'ok'];
    const delays: number[] = [];
    let recovered = 0;
    let calls = 0;
    await runLoop(
      async () => {
        const o = outcomes[calls++];
        if (calls >= outcomes.length) ac.abort();
        if (o === 'fail') throw new Error('server down');
      },
      {
        ...fast,
        name: 't',
        random: () => 1,
        onFailure: (_e, _n, ms) => delays.push(ms),
        onRecovery: (n) => (recovered = n),
      },
      ac.signal,
    );
    expect(calls).toBe(outcomes.length);
    expect(delays).toEqual([5, 10, 20, 40, 40]);
    expect(recovered).toBe(5);
  });

  it('rejects with StopAgent and stops calling the task', async () => {
    let calls = 0;
    const run = runLoop(
      async () => {
        calls++;
        throw new StopAgent('retired', 0);
      },
      { ...fast, name: 't' },
      new AbortController().signal,
    );
    await expect(run).rejects.toMatchObject({ name: 'StopAgent', exitCode: 0 });
    expect(calls).toBe(1);
  });

  it('lets a running task finish after the abort, then ends', async () => {
    const ac = new AbortController();
    let finished = false;
    await runLoop(
      async () => {
        ac.abort();
        await new Promise((r) => setTimeout(r, 30));
        finished = true;
      },
      { ...fast, name: 't' },
      ac.signal,
    );
    expect(finished).toBe(true);
  });
});
