import { getQueueToken } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { LoopName, QueueName } from '@certctl/domain';
import {
  createPrivateDatabase,
  createTestApp,
  eventually,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';
import { AgentHealthService } from './agent-health.service';

describe('agent health check', () => {
  let db: PrivateDatabase;
  let t: TestApp;
  const tag = randomBytes(3).toString('hex');
  const id = (n: string) => `ag-h-${n}-${tag}`;

  beforeAll(async () => {
    // Its own database: the check flips every stale agent, not only this file's.
    db = await createPrivateDatabase(`agent_health_${tag}`);
    t = await createTestApp({
      ...db.env,
      CERTCTL_SCHEDULER_AGENT_HEALTH_CHECK_INTERVAL: '1h', // only the boot tick: runs here are direct
      CERTCTL_AGENT_OFFLINE_AFTER: '5m',
    });
    // A new job scheduler ticks at once: let that tick finish so it cannot race the tests.
    const queue = t.app.get<Queue>(getQueueToken(QueueName.Scheduler));
    await eventually(async () =>
      (await queue.getJobs(['completed', 'failed'])).some((j) => j.name === LoopName.AgentHealth) ? true : undefined,
    );
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  const status = async (n: string): Promise<string> =>
    (await t.ds.query<{ status: string }[]>(`SELECT status FROM agents WHERE id = $1`, [n]))[0].status;

  it('marks agents Offline after missed heartbeats, once, with one audit row per tick', async () => {
    const agents: [string, string, string | null, boolean][] = [
      [id('fresh'), 'Online', `now() - interval '1 minute'`, false],
      [id('stale'), 'Online', `now() - interval '10 minutes'`, false],
      [id('never'), 'Online', null, false],
      [id('degraded'), 'Degraded', `now() - interval '1 hour'`, false],
      [id('degraded-ok'), 'Degraded', 'now()', false],
      [id('offline'), 'Offline', `now() - interval '2 days'`, false],
      [id('retired'), 'Online', `now() - interval '2 days'`, true],
    ];
    for (const [a, s, hb, retired] of agents) {
      await t.ds.query(
        `INSERT INTO agents (id, name, status, last_heartbeat_at, retired_at)
         VALUES ($1, $1, $2, ${hb ?? 'NULL'}, CASE WHEN $3 THEN now() END)`,
        [a, s, retired],
      );
    }
    // A discovery sentinel never heartbeats: the server's own sources are not "offline".
    await t.ds.query(`INSERT INTO agents (id, name, status) VALUES ('server-scanner', $1, 'Online')`, [
      `scanner-${tag}`,
    ]);
    const health = t.app.get(AgentHealthService);

    expect((await health.run()).sort()).toEqual([id('degraded'), id('never'), id('stale')].sort());
    expect(await health.run()).toEqual([]);

    expect(
      Object.fromEntries(
        await Promise.all([...agents.map((a) => a[0]), 'server-scanner'].map(async (a) => [a, await status(a)])),
      ),
    ).toEqual({
      [id('fresh')]: 'Online',
      [id('stale')]: 'Offline',
      [id('never')]: 'Offline',
      [id('degraded')]: 'Offline',
      [id('degraded-ok')]: 'Degraded',
      [id('offline')]: 'Offline',
      [id('retired')]: 'Online',
      'server-scanner': 'Online',
    });
    const audit: {
      actor: string;
      actor_type: string;
      resource_type: string;
      details: { count: number; agent_ids: string[] };
    }[] = await t.ds.query(
      `SELECT actor, actor_type, resource_type, details FROM audit_events WHERE action = 'agents_marked_offline'`,
    );
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor: 'system', actor_type: 'System', resource_type: 'agent' });
    expect(audit[0].details.count).toBe(3);
    expect([...audit[0].details.agent_ids].sort()).toEqual([id('degraded'), id('never'), id('stale')].sort());
  });

  it('brings an agent back Online on its next heartbeat', async () => {
    const admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    const reg = await t.http
      .post('/api/v1/agents')
      .set('Authorization', admin)
      .send({ name: `back-${tag}` });
    expect(reg.status).toBe(201);
    const agent: string = reg.body.id;
    const beat = () =>
      t.http.post(`/api/v1/agents/${agent}/heartbeat`).set('Authorization', `Bearer ${reg.body.api_key}`).send({});
    expect((await beat()).status).toBe(200);
    const health = t.app.get(AgentHealthService);
    expect(await health.run()).toEqual([]); // it just beat
    await t.ds.query(`UPDATE agents SET last_heartbeat_at = now() - interval '6 minutes' WHERE id = $1`, [agent]);
    expect(await health.run()).toEqual([agent]);
    expect(await status(agent)).toBe('Offline');
    expect((await beat()).status).toBe(200);
    expect(await status(agent)).toBe('Online');
    expect(await health.run()).toEqual([]);
  });
});
