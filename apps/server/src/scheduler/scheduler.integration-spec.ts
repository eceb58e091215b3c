import { randomBytes } from 'node:crypto';
import { createTestApp, eventually, type TestApp } from '../../../../test/integration/test-app';
import { LoopRegistry } from './loop-registry';

describe('periodic loops on BullMQ job schedulers', () => {
  const name = `test-loop-${randomBytes(3).toString('hex')}`;
  const runs: { replica: number; start: number; end: number }[] = [];
  let active = 0;
  let maxActive = 0;
  const replicas: TestApp[] = [];

  beforeAll(async () => {
    for (const replica of [1, 2]) {
      replicas.push(
        await createTestApp(
          {},
          {
            beforeInit: (app) =>
              app.get(LoopRegistry).register({
                name,
                everyMs: 150,
                maxRunMs: 5_000,
                run: async () => {
                  active++;
                  maxActive = Math.max(maxActive, active);
                  const start = Date.now();
                  await new Promise((r) => setTimeout(r, 400)); // longer than the interval
                  active--;
                  runs.push({ replica, start, end: Date.now() });
                },
              }),
          },
        ),
      );
    }
  });
  afterAll(async () => {
    for (const r of replicas) await r.close();
  });

  it('ticks repeatedly, never runs two ticks of one loop at once across replicas', async () => {
    await eventually(async () => (runs.length >= 4 ? true : undefined), 15_000);
    expect(maxActive).toBe(1);
    const sorted = [...runs].sort((a, b) => a.start - b.start);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i].start).toBeGreaterThanOrEqual(sorted[i - 1].end);
  });
});
