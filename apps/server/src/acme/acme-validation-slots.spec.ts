import { ValidationSlots } from './acme-validation-slots';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('ValidationSlots', () => {
  it('runs at most the cap of one type at once, without holding up the other types', async () => {
    const slots = new ValidationSlots({ 'http-01': 2, 'dns-01': 1, 'tls-alpn-01': 1 });
    expect(slots.total).toBe(4);
    let running = 0;
    let peak = 0;
    const gates = [deferred(), deferred(), deferred(), deferred()];
    const started: number[] = [];
    const jobs = gates.map((g, i) =>
      slots.run('http-01', async () => {
        started.push(i);
        running += 1;
        peak = Math.max(peak, running);
        await g.promise;
        running -= 1;
        return i;
      }),
    );
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1]);
    // Another type is not queued behind the busy http-01 slots.
    expect(await slots.run('dns-01', () => Promise.resolve('dns'))).toBe('dns');
    gates[0].resolve();
    await jobs[0];
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1, 2]);
    gates.forEach((g) => g.resolve());
    expect(await Promise.all(jobs)).toEqual([0, 1, 2, 3]);
    expect(peak).toBe(2);
  });

  it('frees the slot when the work throws', async () => {
    const slots = new ValidationSlots({ 'http-01': 1, 'dns-01': 1, 'tls-alpn-01': 1 });
    await expect(slots.run('tls-alpn-01', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await slots.run('tls-alpn-01', () => Promise.resolve(1))).toBe(1);
  });
});
