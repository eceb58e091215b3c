import { randomBytes } from 'node:crypto';
import { createTestApp, type TestApp } from '../../../../test/integration/test-app';

describe('POST /api/v1/certificates/{id}/revoke', () => {
  let t: TestApp;
  let operator: string;
  let viewer: string;
  const tag = randomBytes(3).toString('hex');
  const serial = `7f${randomBytes(19).toString('hex')}`;
  const issued = `mc-rev-${tag}`;
  const never = `mc-rev-never-${tag}`;

  beforeAll(async () => {
    t = await createTestApp();
    operator = `Bearer ${(await t.mintKey(['operator'])).key}`;
    viewer = `Bearer ${(await t.mintKey(['viewer'])).key}`;
    for (const id of [issued, never]) {
      await t.ds.query(
        `INSERT INTO managed_certificates (id, name, common_name, status, expires_at)
         VALUES ($1, $1, 'rev.example.com', 'Active', now() + interval '30 days')`,
        [id],
      );
    }
    await t.ds.query(
      `INSERT INTO certificate_versions (id, certificate_id, serial_number, fingerprint_sha256, pem_chain, not_before, not_after)
       VALUES ($1, $2, $3, 'ab', 'PEM', now(), now() + interval '30 days')`,
      [`cv-rev-${tag}`, issued, serial.toUpperCase()],
    );
  });
  afterAll(async () => {
    await t.close();
  });

  const revoke = (id: string, body: object, auth = operator) =>
    t.http.post(`/api/v1/certificates/${id}/revoke`).set('Authorization', auth).send(body);

  it('records the serial with its reason, marks the certificate Revoked and audits once', async () => {
    const res = await revoke(issued, { reason: 'KEYCOMPROMISE', invalidity_date: '2026-01-01T00:00:00Z' });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('Revoked');
    const rows: { serial_number: string; reason: string; reason_code: number; revoked_by: string }[] = await t.ds.query(
      `SELECT * FROM certificate_revocations WHERE certificate_id = $1`,
      [issued],
    );
    expect(rows).toEqual([expect.objectContaining({ serial_number: serial, reason: 'keyCompromise', reason_code: 1 })]);
    const again = await revoke(issued, { reason: 'superseded' });
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('Revoked');
    const count: { n: string }[] = await t.ds.query(
      `SELECT count(*) AS n FROM certificate_revocations WHERE certificate_id = $1`,
      [issued],
    );
    expect(Number(count[0].n)).toBe(1);
    const audit: unknown[] = await t.ds.query(
      `SELECT 1 FROM audit_events WHERE action = 'certificate_revoked' AND resource_id = $1`,
      [issued],
    );
    expect(audit).toHaveLength(1);
  });

  it('refuses what cannot be revoked, and bad input, without storing anything', async () => {
    const res = await revoke(never, {});
    expect(res.status).toBe(409);
    expect(res.body.message).toContain('no issued version');
    expect((await revoke(`mc-nope-${tag}`, {})).status).toBe(404);
    const bad = await revoke(never, { reason: 'boredom' });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/^body\.reason: /);
    expect((await revoke(never, { invalidity_date: '2999-01-01T00:00:00Z' })).status).toBe(400);
    expect((await revoke(never, {}, viewer)).status).toBe(403);
    const rows: unknown[] = await t.ds.query(`SELECT 1 FROM certificate_revocations WHERE certificate_id = $1`, [
      never,
    ]);
    expect(rows).toHaveLength(0);
  });

  it('bulk-revokes by filter, tolerating certificates that cannot be revoked, with one summary audit row', async () => {
    const owner = `o-bulk-${tag}`;
    await t.ds.query(`INSERT INTO owners (id, name, email) VALUES ($1, 'Bulk', $2)`, [
      owner,
      `bulk-${tag}@example.com`,
    ]);
    for (const n of ['a', 'b', 'c']) {
      const id = `mc-bulk-${n}-${tag}`;
      await t.ds.query(
        `INSERT INTO managed_certificates (id, name, common_name, status, owner_id) VALUES ($1, $1, 'b.example.com', 'Active', $2)`,
        [id, owner],
      );
      if (n !== 'c') {
        await t.ds.query(
          `INSERT INTO certificate_versions (id, certificate_id, serial_number, fingerprint_sha256, pem_chain, not_before, not_after)
           VALUES ($1, $2, $3, 'ab', 'PEM', now(), now() + interval '30 days')`,
          [`cv-bulk-${n}-${tag}`, id, `6${n}${randomBytes(10).toString('hex')}`],
        );
      }
    }
    const res = await t.http
      .post('/api/v1/certificates/bulk-revoke')
      .set('Authorization', operator)
      .send({ owner_id: owner, reason: 'cessationOfOperation' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ total_requested: 3, succeeded: 2, failed: 1 });
    expect(res.body.errors).toEqual([
      { certificate_id: `mc-bulk-c-${tag}`, message: expect.stringContaining('no issued version') },
    ]);
    const summary: { details: { succeeded: number } }[] = await t.ds.query(
      `SELECT details FROM audit_events WHERE action = 'bulk_revocation_initiated' AND details->'filters'->>'owner_id' = $1`,
      [owner],
    );
    expect(summary.map((r) => r.details.succeeded)).toEqual([2]);
    // already revoked ones are not requested again
    const again = await t.http
      .post('/api/v1/certificates/bulk-revoke')
      .set('Authorization', operator)
      .send({ owner_id: owner });
    expect(again.body).toMatchObject({ total_requested: 1, succeeded: 0, failed: 1 });
    const none = await t.http
      .post('/api/v1/certificates/bulk-revoke')
      .set('Authorization', operator)
      .send({ reason: 'superseded' });
    expect(none.status).toBe(400);
    expect(
      (await t.http.post('/api/v1/certificates/bulk-revoke').set('Authorization', viewer).send({ owner_id: owner }))
        .status,
    ).toBe(403);
  });
  it('leaves one owner notification per revoked certificate and serial, however often it is revoked', async () => {
    interface NotificationRow {
      certificate_id: string;
      type: string;
      channel: string;
      recipient: string;
      severity: string;
      status: string;
      dedup_key: string;
      message: string;
    }
    const notifications = (ids: string[]) =>
      t.ds.query<NotificationRow[]>(
        `SELECT certificate_id, type, channel, recipient, severity, status, dedup_key, message
           FROM notification_events
          WHERE certificate_id = ANY($1) AND type = 'Revocation' -- the renewal check may alert on them too
          ORDER BY certificate_id`,
        [ids],
      );
    expect(await notifications([issued])).toEqual([
      {
        certificate_id: issued,
        type: 'Revocation',
        channel: 'Email',
        recipient: '',
        severity: 'warning',
        status: 'pending',
        dedup_key: `revoked:${issued}:${serial}`,
        message: expect.stringContaining('keyCompromise'),
      },
    ]);
    // Even when the status guard is bypassed (status put back by hand), the dedup key holds.
    await t.ds.query(`UPDATE managed_certificates SET status = 'Active' WHERE id = $1`, [issued]);
    expect((await revoke(issued, { reason: 'superseded' })).status).toBe(200);
    expect(await notifications([issued])).toHaveLength(1);
    // Bulk: one per revoked certificate, to the owner; none for the one that failed.
    const bulk = ['a', 'b', 'c'].map((n) => `mc-bulk-${n}-${tag}`);
    const rows = await notifications(bulk);
    expect(rows.map((r) => [r.certificate_id, r.recipient, r.type])).toEqual([
      [bulk[0], `bulk-${tag}@example.com`, 'Revocation'],
      [bulk[1], `bulk-${tag}@example.com`, 'Revocation'],
    ]);
    expect(rows[0].dedup_key).toMatch(new RegExp(`^revoked:${bulk[0]}:6a[0-9a-f]{20}$`));
  });
});
