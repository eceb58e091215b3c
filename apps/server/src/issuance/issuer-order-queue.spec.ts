import { orderPollDelayMs } from './issuer-order-queue';

describe('orderPollDelayMs (backoff of pending CA orders)', () => {
  const b = { initialMs: 30_000, maxMs: 900_000 };

  it('doubles from the initial interval per pending answer, capped at the max', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 50].map((n) => orderPollDelayMs(b, n))).toEqual([
      30_000, 60_000, 120_000, 240_000, 480_000, 900_000, 900_000, 900_000,
    ]);
  });

  it("lengthens a wait to the CA's Retry-After, never past the max nor below the schedule", () => {
    expect(orderPollDelayMs(b, 0, 120)).toBe(120_000);
    expect(orderPollDelayMs(b, 0, 5)).toBe(30_000);
    expect(orderPollDelayMs(b, 0, 86_400)).toBe(900_000);
    expect(orderPollDelayMs(b, 0, Number.NaN)).toBe(30_000);
  });
});
