import { randomBytes, X509Certificate } from 'node:crypto';
import { OpensslDir } from '../../../../libs/pki/src/keys/testing';
import {
  createLocalCaIssuer,
  createProfile,
  issueCertificate,
  ISSUING_ENV,
  registerAgent,
  type IssuedCertificate,
} from '../../../../test/integration/issued-certificates';
import {
  createPrivateDatabase,
  createTestApp,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';

interface Discovered {
  id: string;
  agent_id: string;
  source_path: string;
  fingerprint_sha256: string;
  common_name: string;
  sans: string[];
  serial: string;
  status: string;
  managed_certificate_id: string | null;
  first_seen: string;
  last_seen: string;
  not_after: string;
  is_ca: boolean;
  key_algorithm: string;
  key_size: number | null;
}

/** What the agent's filesystem scanner extracts, here from a real certificate made by openssl. */
function reportEntry(pem: string, path: string, format: 'pem' | 'der' = 'pem'): Record<string, unknown> {
  const x = new X509Certificate(pem);
  const key = x.publicKey.asymmetricKeyDetails;
  return {
    source_path: path,
    // openssl's colon form on purpose: the server stores lower-case hex.
    fingerprint_sha256: x.fingerprint256,
    common_name: /(?:^|\n)CN=([^\n]*)/.exec(x.subject)?.[1] ?? '',
    sans: x.subjectAltName ? x.subjectAltName.split(', ') : [],
    serial: x.serialNumber,
    issuer_dn: x.issuer.split('\n').join(','),
    subject_dn: x.subject.split('\n').join(','),
    not_before: new Date(x.validFrom).toISOString(),
    not_after: new Date(x.validTo).toISOString(),
    key_algorithm: x.publicKey.asymmetricKeyType === 'ec' ? 'ECDSA' : 'RSA',
    key_size: key?.modulusLength ?? (key?.namedCurve === 'prime256v1' ? 256 : null),
    is_ca: x.ca,
    format,
  };
}

const hex = (fp: string) => fp.replace(/:/g, '').toLowerCase();

/**
 * Discovery ingestion and triage, and post-deployment verification, over HTTP on the real
 * Postgres: agents report scans of real (openssl-made) certificates; operators claim or
 * dismiss them; an agent reports the verification of a deployment it claimed.
 */
describe('discovery reports, triage and deployment verification', () => {
  let db: PrivateDatabase;
  let t: TestApp;
  let admin: string;
  let viewer: string;
  let operator: string;
  let keyA: string;
  let keyB: string;
  const tag = randomBytes(3).toString('hex');
  const ossl = new OpensslDir();
  const ids = {
    issuer: `iss-dv-${tag}`,
    profile: `prof-dv-${tag}`,
    agentA: `ag-dv-a-${tag}`,
    agentB: `ag-dv-b-${tag}`,
    agentC: `ag-dv-c-${tag}`,
    target: `t-dv-${tag}`,
    cert: `mc-dv-${tag}`,
    owner: `o-dv-${tag}`,
  };
  const pems: Record<'web' | 'appliance' | 'root', string> = { web: '', appliance: '', root: '' };
  let issued: IssuedCertificate;

  const as = (key: string) => ({
    get: (path: string) => t.http.get(path).set('Authorization', key),
    post: (path: string, body: object = {}) => t.http.post(path).set('Authorization', key).send(body),
  });

  const scan = (extra: Record<string, unknown> = {}) => ({
    started_at: '2026-01-31T00:00:00Z',
    finished_at: '2026-01-31T00:00:04Z',
    directories: ['/etc/ssl', '/etc/nginx'],
    errors: [{ path: '/etc/ssl/private', message: 'EACCES: permission denied' }],
    ...extra,
  });

  const rowsOf = async (agentId: string) =>
    t.ds.query<
      {
        id: string;
        fingerprint_sha256: string;
        source_path: string;
        first_seen: Date;
        last_seen: Date;
        status: string;
      }[]
    >(
      `SELECT id, fingerprint_sha256, source_path, first_seen, last_seen, status
         FROM discovered_certificates WHERE agent_id = $1 ORDER BY source_path`,
      [agentId],
    );

  const discoveredAt = async (agentId: string, path: string): Promise<Discovered> => {
    const res = await as(admin).get(`/api/v1/discovered-certificates?agent_id=${agentId}&per_page=500`);
    expect(res.status).toBe(200);
    const found = (res.body.data as Discovered[]).find((d) => d.source_path === path);
    if (!found) throw new Error(`no discovered certificate at ${path} for ${agentId}`);
    return found;
  };

  const auditOf = (action: string, resourceId: string) =>
    t.ds.query<{ actor: string; actor_type: string; details: Record<string, unknown> }[]>(
      `SELECT actor, actor_type, details FROM audit_events WHERE action = $1 AND resource_id = $2 ORDER BY created_at, id`,
      [action, resourceId],
    );

  beforeAll(async () => {
    db = await createPrivateDatabase(`discovery_${tag}`);
    t = await createTestApp({ ...db.env, ...ISSUING_ENV });
    admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    viewer = `Bearer ${(await t.mintKey(['viewer'])).key}`;
    operator = `Bearer ${(await t.mintKey(['operator'])).key}`;
    keyA = await registerAgent(t, admin, ids.agentA, `dv-a-${tag}`);
    keyB = await registerAgent(t, admin, ids.agentB, `dv-b-${tag}`);
    await registerAgent(t, admin, ids.agentC, `dv-c-${tag}`);
    expect(
      (await as(admin).post('/api/v1/owners', { id: ids.owner, name: `owner ${tag}`, email: 'pki@example.com' }))
        .status,
    ).toBe(201);

    // Certificates found on disk: a soon-expiring web server certificate, an appliance whose
    // CN is no host name (its IP SAN must stand in), and a CA without SANs.
    ossl.ok([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'web.key',
      '-subj',
      '/CN=web.dv.example.com',
      '-addext',
      'basicConstraints=critical,CA:FALSE',
      '-addext',
      'subjectAltName=DNS:web.dv.example.com,DNS:www.dv.example.com',
      '-days',
      '10',
      '-out',
      'web.pem',
    ]);
    ossl.ok([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'appliance.key',
      '-subj',
      '/CN=Legacy Appliance/O=Example',
      '-addext',
      'basicConstraints=critical,CA:FALSE',
      '-addext',
      'subjectAltName=IP:10.0.0.5',
      '-days',
      '365',
      '-out',
      'appliance.pem',
    ]);
    ossl.ok([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'root.key',
      '-subj',
      '/CN=Internal Root CA',
      '-days',
      '3650',
      '-out',
      'root.pem',
    ]);
    pems.web = ossl.read('web.pem').toString();
    pems.appliance = ossl.read('appliance.pem').toString();
    pems.root = ossl.read('root.pem').toString();

    // A managed certificate issued by the server; agent A's target deploys it (below).
    await createLocalCaIssuer(t, admin, ids.issuer);
    await createProfile(t, admin, ids.profile, 'dv.example.com', 30 * 86_400);
    const target = await as(admin).post('/api/v1/targets', {
      id: ids.target,
      name: `nginx-${tag}`,
      type: 'NGINX',
      agent_id: ids.agentA,
      config: { cert_path: '/etc/nginx/ssl/dv.crt', key_path: '/etc/nginx/ssl/dv.key' },
    });
    expect(target.status).toBe(201);
    issued = await issueCertificate(t, admin, {
      id: ids.cert,
      issuerId: ids.issuer,
      profileId: ids.profile,
      commonName: 'api.dv.example.com',
    });
  });

  afterAll(async () => {
    await t.close();
    await db.drop();
    ossl.remove();
  });

  describe('POST /api/v1/agents/{id}/discoveries', () => {
    let firstScan: string;

    it('records one scan and each certificate once (duplicates in a report count once), audited', async () => {
      const body = {
        scan: scan(),
        certificates: [
          reportEntry(pems.web, '/etc/nginx/ssl/web.pem'),
          reportEntry(pems.web, '/etc/ssl/certs/web-copy.pem'),
          reportEntry(pems.web, '/etc/nginx/ssl/web.pem'),
          reportEntry(pems.appliance, '/etc/ssl/certs/appliance.der', 'der'),
          reportEntry(pems.root, '/etc/ssl/certs/root.pem'),
          reportEntry(issued.leafPem, '/etc/nginx/ssl/dv.crt'),
        ],
      };
      const res = await as(keyA).post(`/api/v1/agents/${ids.agentA}/discoveries`, body);
      expect(res.status).toBe(201);
      expect(res.body).toEqual({
        scan_id: expect.stringMatching(/^ds-/),
        agent_id: ids.agentA,
        certificates_found: 5,
        new_certificates: 5,
        updated_certificates: 0,
        error_count: 1,
      });
      firstScan = res.body.scan_id;
      const rows = await rowsOf(ids.agentA);
      expect(rows.map((r) => r.source_path)).toEqual([
        '/etc/nginx/ssl/dv.crt',
        '/etc/nginx/ssl/web.pem',
        '/etc/ssl/certs/appliance.der',
        '/etc/ssl/certs/root.pem',
        '/etc/ssl/certs/web-copy.pem',
      ]);
      expect(rows.every((r) => r.status === 'Unmanaged' && /^[0-9a-f]{64}$/.test(r.fingerprint_sha256))).toBe(true);
      const web = await discoveredAt(ids.agentA, '/etc/nginx/ssl/web.pem');
      expect(web).toEqual(
        expect.objectContaining({
          fingerprint_sha256: hex(new X509Certificate(pems.web).fingerprint256),
          common_name: 'web.dv.example.com',
          sans: ['DNS:web.dv.example.com', 'DNS:www.dv.example.com'],
          serial: new X509Certificate(pems.web).serialNumber.toLowerCase(),
          key_algorithm: 'ECDSA',
          key_size: 256,
          is_ca: false,
          managed_certificate_id: null,
        }),
      );
      expect((await discoveredAt(ids.agentA, '/etc/ssl/certs/root.pem')).is_ca).toBe(true);

      const scans = await as(viewer).get(`/api/v1/discovery-scans?agent_id=${ids.agentA}`);
      expect(scans.status).toBe(200);
      expect(scans.body.total).toBe(1);
      expect(scans.body.data[0]).toEqual(
        expect.objectContaining({
          id: firstScan,
          source: 'filesystem',
          directories: ['/etc/ssl', '/etc/nginx'],
          certificates_found: 5,
          new_certificates: 5,
          error_count: 1,
          errors: [{ path: '/etc/ssl/private', message: 'EACCES: permission denied' }],
          reported_by: ids.agentA,
          started_at: '2026-01-31T00:00:00.000Z',
        }),
      );
      const audit = await auditOf('discovery_scan_completed', firstScan);
      expect(audit).toHaveLength(1);
      expect(audit[0]).toEqual(
        expect.objectContaining({
          actor: ids.agentA,
          actor_type: 'Agent',
          details: expect.objectContaining({ agent_id: ids.agentA, certificates_found: 5, new_certificates: 5 }),
        }),
      );
    });

    it('the same report again adds no rows: ids and first_seen stay, last_seen moves', async () => {
      const before = await rowsOf(ids.agentA);
      const res = await as(keyA).post(`/api/v1/agents/${ids.agentA}/discoveries`, {
        scan: scan({ started_at: '2026-01-31T06:00:00Z', finished_at: '2026-01-31T06:00:03Z', errors: [] }),
        certificates: [
          reportEntry(pems.web, '/etc/nginx/ssl/web.pem'),
          reportEntry(pems.web, '/etc/ssl/certs/web-copy.pem'),
          reportEntry(pems.appliance, '/etc/ssl/certs/appliance.der', 'der'),
          reportEntry(pems.root, '/etc/ssl/certs/root.pem'),
          reportEntry(issued.leafPem, '/etc/nginx/ssl/dv.crt'),
        ],
      });
      expect(res.status).toBe(201);
      expect(res.body).toEqual(
        expect.objectContaining({
          certificates_found: 5,
          new_certificates: 0,
          updated_certificates: 5,
          error_count: 0,
        }),
      );
      const after = await rowsOf(ids.agentA);
      expect(after.map((r) => r.id)).toEqual(before.map((r) => r.id));
      for (const [i, row] of after.entries()) {
        expect(row.first_seen.getTime()).toBe(before[i].first_seen.getTime());
        expect(row.last_seen.getTime()).toBeGreaterThan(before[i].last_seen.getTime());
      }
      const scans = await as(viewer).get(`/api/v1/discovery-scans?agent_id=${ids.agentA}&sort=-started_at`);
      expect(scans.body.total).toBe(2);
      expect(scans.body.data[0]).toEqual(expect.objectContaining({ new_certificates: 0, certificates_found: 5 }));
      expect(scans.body.data[1].id).toBe(firstScan);
    });

    it('deduplicates per agent: the same file on another agent is its own row', async () => {
      const res = await as(keyB).post(`/api/v1/agents/${ids.agentB}/discoveries`, {
        scan: scan(),
        certificates: [reportEntry(pems.web, '/etc/nginx/ssl/web.pem')],
      });
      expect(res.status).toBe(201);
      expect(res.body.new_certificates).toBe(1);
      expect(await rowsOf(ids.agentB)).toHaveLength(1);
      // Optional fields may be null (as an agent serializing absent values sends them).
      const nulls = await as(keyB).post(`/api/v1/agents/${ids.agentB}/discoveries`, {
        scan: scan({ directories: null, errors: null, source: null }),
        certificates: [
          {
            ...reportEntry(pems.root, '/etc/ssl/certs/root.pem'),
            common_name: null,
            sans: null,
            serial: null,
            issuer_dn: null,
            key_size: null,
            is_ca: null,
            format: null,
          },
        ],
      });
      expect(nulls.status).toBe(201);
      expect(await rowsOf(ids.agentB)).toHaveLength(2);
      await t.ds.query(`DELETE FROM discovered_certificates WHERE agent_id = $1 AND source_path = $2`, [
        ids.agentB,
        '/etc/ssl/certs/root.pem',
      ]);
      // An empty scan is still a scan.
      const empty = await as(keyB).post(`/api/v1/agents/${ids.agentB}/discoveries`, {
        scan: scan({ errors: [] }),
        certificates: [],
      });
      expect(empty.status).toBe(201);
      expect(empty.body).toEqual(expect.objectContaining({ certificates_found: 0, new_certificates: 0 }));
    });

    it('refuses bad reports with 400s naming the field (index included), storing nothing', async () => {
      const good = reportEntry(pems.web, '/x/web.pem');
      const cases: [object, string][] = [
        [{ certificates: [good] }, 'body.scan'],
        [{ scan: scan() }, 'body.certificates'],
        [
          { scan: scan(), certificates: [good, { ...good, fingerprint_sha256: 'nope' }] },
          'body.certificates.1.fingerprint_sha256',
        ],
        [{ scan: scan(), certificates: [{ ...good, not_after: 'tomorrow' }] }, 'body.certificates.0.not_after'],
        [
          { scan: scan(), certificates: [good, good, { ...good, source_path: undefined }] },
          'body.certificates.2.source_path',
        ],
        [
          { scan: scan(), certificates: [{ ...good, source_path: `/${'a'.repeat(5000)}` }] },
          'body.certificates.0.source_path',
        ],
        [{ scan: scan(), certificates: [{ ...good, key_size: 'big' }] }, 'body.certificates.0.key_size'],
        [{ scan: scan(), certificates: [{ ...good, format: 'p12' }] }, 'body.certificates.0.format'],
        [{ scan: scan(), certificates: [{ ...good, bogus: 1 }] }, 'body.certificates.0.bogus'],
        [{ scan: scan(), certificates: [42] }, 'body.certificates'],
        [{ scan: scan({ started_at: 'yesterday' }), certificates: [] }, 'body.scan.started_at'],
        [{ scan: scan({ finished_at: '2026-01-30T00:00:00Z' }), certificates: [] }, 'body.scan.finished_at'],
        [{ scan: scan({ errors: [{ path: '/x' }] }), certificates: [] }, 'body.scan.errors.0.message'],
        [{ scan: scan({ directories: Array(101).fill('/d') }), certificates: [] }, 'body.scan.directories'],
        [{ scan: scan({ source: 'cloud' }), certificates: [] }, 'body.scan.source'],
        [{ scan: scan(), certificates: Array(1001).fill(good) }, 'body.certificates'],
      ];
      const scansBefore = (await t.ds.query(`SELECT count(*)::int AS n FROM discovery_scans`))[0].n;
      for (const [body, field] of cases) {
        const res = await as(keyA).post(`/api/v1/agents/${ids.agentA}/discoveries`, body);
        expect({ field, status: res.status }).toEqual({ field, status: 400 });
        expect(res.body.message).toContain(field);
      }
      expect((await t.ds.query(`SELECT count(*)::int AS n FROM discovery_scans`))[0].n).toBe(scansBefore);
      expect(await t.ds.query(`SELECT 1 FROM discovered_certificates WHERE source_path = '/x/web.pem'`)).toEqual([]);
    });

    it('lets an agent report only as itself; viewers not at all; unknown agents 404, retired 410', async () => {
      const body = { scan: scan(), certificates: [reportEntry(pems.web, '/y/web.pem')] };
      const other = await as(keyB).post(`/api/v1/agents/${ids.agentA}/discoveries`, body);
      expect(other.status).toBe(403);
      expect(other.body.message).toContain(ids.agentB);
      expect((await as(viewer).post(`/api/v1/agents/${ids.agentA}/discoveries`, body)).status).toBe(403);
      expect((await as(admin).post(`/api/v1/agents/ag-nope-${tag}/discoveries`, body)).status).toBe(404);
      // An operator key may report for any agent (as on the other agent routes).
      expect((await as(operator).post(`/api/v1/agents/${ids.agentC}/discoveries`, body)).status).toBe(201);
      const retired = await t.http.delete(`/api/v1/agents/${ids.agentC}`).set('Authorization', admin);
      expect(retired.status).toBeLessThan(300);
      expect((await as(admin).post(`/api/v1/agents/${ids.agentC}/discoveries`, body)).status).toBe(410);
      expect(
        await t.ds
          .query(`SELECT 1 FROM discovered_certificates WHERE agent_id = $1`, [ids.agentB])
          .then((r) => r.length),
      ).toBe(1);
    });
  });

  describe('reading', () => {
    it('lists with filters (status, agent, expiring, fingerprint) and pagination; viewers may read, agents not', async () => {
      const all = await as(viewer).get(
        `/api/v1/discovered-certificates?agent_id=${ids.agentA}&per_page=2&sort=common_name`,
      );
      expect(all.status).toBe(200);
      expect(all.body).toEqual(expect.objectContaining({ total: 5, page: 1, per_page: 2 }));
      expect(all.body.data).toHaveLength(2);
      const expiring = await as(viewer).get(`/api/v1/discovered-certificates?agent_id=${ids.agentA}&expiring=20`);
      expect((expiring.body.data as Discovered[]).map((d) => d.source_path).sort()).toEqual([
        '/etc/nginx/ssl/web.pem',
        '/etc/ssl/certs/web-copy.pem',
      ]);
      const byFp = await as(viewer).get(
        `/api/v1/discovered-certificates?fingerprint_sha256=${new X509Certificate(pems.web).fingerprint256}`,
      );
      expect(byFp.body.total).toBe(4); // two paths on A, one on B, one on C
      const unmanaged = await as(viewer).get(`/api/v1/discovered-certificates?status=unmanaged&agent_id=${ids.agentB}`);
      expect(unmanaged.body.total).toBe(1);
      const cursor = await as(viewer).get(`/api/v1/discovered-certificates?page_size=2`);
      expect(cursor.body.next_cursor).toEqual(expect.any(String));

      for (const [q, field] of [
        ['status=Lost', 'query.status'],
        ['expiring=-1', 'query.expiring'],
        ['expiring=soon', 'query.expiring'],
        ['fingerprint_sha256=zz', 'query.fingerprint_sha256'],
        ['sort=serial', 'query.sort'],
      ]) {
        const res = await as(viewer).get(`/api/v1/discovered-certificates?${q}`);
        expect({ q, status: res.status }).toEqual({ q, status: 400 });
        expect(res.body.message).toContain(field);
      }
      const one = await discoveredAt(ids.agentA, '/etc/ssl/certs/appliance.der');
      const got = await as(viewer).get(`/api/v1/discovered-certificates/${one.id}`);
      expect(got.status).toBe(200);
      expect(got.body).toEqual(one);
      expect((await as(viewer).get(`/api/v1/discovered-certificates/dc-nope-${tag}`)).status).toBe(404);
      expect((await as(keyA).get(`/api/v1/discovered-certificates`)).status).toBe(403);
      expect((await as(keyA).get(`/api/v1/discovery-summary`)).status).toBe(403);
    });
  });

  describe('triage', () => {
    it('claims by linking an existing managed certificate (noting that it is the same certificate)', async () => {
      const d = await discoveredAt(ids.agentA, '/etc/nginx/ssl/dv.crt');
      expect(
        (
          await as(viewer).post(`/api/v1/discovered-certificates/${d.id}/claim`, {
            managed_certificate_id: issued.certId,
          })
        ).status,
      ).toBe(403);
      const res = await as(operator).post(`/api/v1/discovered-certificates/${d.id}/claim`, {
        managed_certificate_id: issued.certId,
      });
      expect(res.status).toBe(200);
      expect(res.body).toEqual(
        expect.objectContaining({ id: d.id, status: 'Managed', managed_certificate_id: issued.certId }),
      );
      const audit = await auditOf('discovery_cert_claimed', d.id);
      expect(audit).toHaveLength(1);
      expect(audit[0].details).toEqual(
        expect.objectContaining({
          mode: 'link',
          managed_certificate_id: issued.certId,
          fingerprint_matches_version: true,
        }),
      );
      // Managed is final for triage: a second claim or a dismissal is a 409.
      const again = await as(operator).post(`/api/v1/discovered-certificates/${d.id}/claim`, {
        managed_certificate_id: issued.certId,
      });
      expect(again.status).toBe(409);
      expect((await as(operator).post(`/api/v1/discovered-certificates/${d.id}/dismiss`)).status).toBe(409);
      // A later scan does not reset the decision.
      await as(keyA).post(`/api/v1/agents/${ids.agentA}/discoveries`, {
        scan: scan(),
        certificates: [reportEntry(issued.leafPem, '/etc/nginx/ssl/dv.crt')],
      });
      expect((await as(viewer).get(`/api/v1/discovered-certificates/${d.id}`)).body.status).toBe('Managed');
    });

    it('claims by creating a managed certificate from the discovered names', async () => {
      const d = await discoveredAt(ids.agentA, '/etc/nginx/ssl/web.pem');
      const countCerts = async () =>
        (await t.ds.query(`SELECT count(*)::int AS n FROM managed_certificates`))[0].n as number;
      const before = await countCerts();
      // A bad reference is a 400 naming this body's field; nothing is created or changed.
      const bad = await as(operator).post(`/api/v1/discovered-certificates/${d.id}/claim`, {
        create: { name: 'web', owner_id: `o-nope-${tag}` },
      });
      expect(bad.status).toBe(400);
      expect(bad.body.message).toContain('body.create.owner_id');
      expect(await countCerts()).toBe(before);
      expect((await as(viewer).get(`/api/v1/discovered-certificates/${d.id}`)).body.status).toBe('Unmanaged');

      const res = await as(operator).post(`/api/v1/discovered-certificates/${d.id}/claim`, {
        create: { name: `web ${tag}`, owner_id: ids.owner, issuer_id: ids.issuer, profile_id: ids.profile },
      });
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('Managed');
      const mc = await as(viewer).get(`/api/v1/certificates/${res.body.managed_certificate_id}`);
      expect(mc.status).toBe(200);
      expect(mc.body).toEqual(
        expect.objectContaining({
          name: `web ${tag}`,
          common_name: 'web.dv.example.com',
          sans: ['web.dv.example.com', 'www.dv.example.com'],
          owner_id: ids.owner,
          issuer_id: ids.issuer,
          profile_id: ids.profile,
        }),
      );
      expect(await countCerts()).toBe(before + 1);
      expect(await auditOf('certificate_created', res.body.managed_certificate_id)).toHaveLength(1);
      const audit = await auditOf('discovery_cert_claimed', d.id);
      expect(audit[0].details).toEqual(expect.objectContaining({ mode: 'create', from: 'Unmanaged' }));

      // A CN that is no host name: the IP SAN stands in.
      const appliance = await discoveredAt(ids.agentA, '/etc/ssl/certs/appliance.der');
      const res2 = await as(admin).post(`/api/v1/discovered-certificates/${appliance.id}/claim`, {
        create: { name: `appliance ${tag}` },
      });
      expect(res2.status).toBe(200);
      const mc2 = await as(viewer).get(`/api/v1/certificates/${res2.body.managed_certificate_id}`);
      expect(mc2.body).toEqual(expect.objectContaining({ common_name: '10.0.0.5', sans: ['10.0.0.5'] }));
    });

    it('refuses claims that are not exactly one of link/create, bad links, and underivable names', async () => {
      const root = await discoveredAt(ids.agentA, '/etc/ssl/certs/root.pem');
      const claim = (body: object) => as(operator).post(`/api/v1/discovered-certificates/${root.id}/claim`, body);
      const cases: [object, string][] = [
        [{}, 'managed_certificate_id'],
        [{ managed_certificate_id: issued.certId, create: { name: 'x' } }, 'managed_certificate_id'],
        [{ managed_certificate_id: `mc-nope-${tag}` }, 'body.managed_certificate_id'],
        [{ managed_certificate_id: 'Not An Id' }, 'body.managed_certificate_id'],
        [{ create: {} }, 'body.create.name'],
        [{ create: { name: 'x', colour: 'red' } }, 'body.create.colour'],
        [{ create: 'yes' }, 'body.create'],
        [{ managed_certificate_id: null, create: null }, 'managed_certificate_id'],
      ];
      for (const [body, field] of cases) {
        const res = await claim(body);
        expect({ body, status: res.status }).toEqual({ body, status: 400 });
        expect(res.body.message).toContain(field);
      }
      // No SAN and a CN that is not a host name: nothing to manage it as (409), link instead.
      const underivable = await claim({ create: { name: 'root' } });
      expect(underivable.status).toBe(409);
      expect(underivable.body.message).toContain('managed_certificate_id');
      expect(
        (await as(operator).post(`/api/v1/discovered-certificates/dc-nope-${tag}/claim`, { create: { name: 'x' } }))
          .status,
      ).toBe(404);
    });

    it('dismisses an Unmanaged one (once), and a dismissed one can still be claimed', async () => {
      const root = await discoveredAt(ids.agentA, '/etc/ssl/certs/root.pem');
      expect((await as(viewer).post(`/api/v1/discovered-certificates/${root.id}/dismiss`)).status).toBe(403);
      const res = await as(operator).post(`/api/v1/discovered-certificates/${root.id}/dismiss`, { reason: 'lab CA' });
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('Dismissed');
      const audit = await auditOf('discovery_cert_dismissed', root.id);
      expect(audit).toHaveLength(1);
      expect(audit[0].details).toEqual(expect.objectContaining({ reason: 'lab CA', agent_id: ids.agentA }));
      expect((await as(operator).post(`/api/v1/discovered-certificates/${root.id}/dismiss`)).status).toBe(409);
      const bad = await as(operator).post(`/api/v1/discovered-certificates/${root.id}/dismiss`, { reason: 7 });
      expect(bad.status).toBe(400);
      expect(bad.body.message).toContain('body.reason');

      const claimed = await as(operator).post(`/api/v1/discovered-certificates/${root.id}/claim`, {
        managed_certificate_id: issued.certId,
      });
      expect(claimed.status).toBe(200);
      expect(claimed.body).toEqual(
        expect.objectContaining({ status: 'Managed', managed_certificate_id: issued.certId }),
      );
      expect((await auditOf('discovery_cert_claimed', root.id))[0].details).toEqual(
        expect.objectContaining({ from: 'Dismissed', fingerprint_matches_version: false }),
      );
    });

    it('summarizes by status, expiry and agent', async () => {
      const copy = await discoveredAt(ids.agentA, '/etc/ssl/certs/web-copy.pem');
      expect((await as(operator).post(`/api/v1/discovered-certificates/${copy.id}/dismiss`)).status).toBe(200);
      const res = await as(viewer).get('/api/v1/discovery-summary');
      expect(res.status).toBe(200);
      const counts = await t.ds.query<{ status: string; n: number }[]>(
        `SELECT status, count(*)::int AS n FROM discovered_certificates GROUP BY status`,
      );
      const n = (s: string) => counts.find((c) => c.status === s)?.n ?? 0;
      expect(res.body).toEqual(
        expect.objectContaining({
          total: n('Managed') + n('Unmanaged') + n('Dismissed'),
          managed: n('Managed'),
          unmanaged: n('Unmanaged'),
          dismissed: n('Dismissed'),
          expiring_days: 30,
          expired: 0,
        }),
      );
      // Unmanaged and expiring within 30 days: agent B's and C's copies of the web certificate
      // (agent A's copies were claimed and dismissed).
      expect(res.body.expiring_soon).toBe(2);
      const a = (
        res.body.by_agent as {
          agent_id: string;
          managed: number;
          dismissed: number;
          unmanaged: number;
          last_scan_at: string;
        }[]
      ).find((x) => x.agent_id === ids.agentA);
      expect(a).toEqual(
        expect.objectContaining({ managed: 4, dismissed: 1, unmanaged: 0, last_scan_at: expect.any(String) }),
      );
      expect(res.body.scans).toBeGreaterThanOrEqual(5);
      const narrow = await as(viewer).get('/api/v1/discovery-summary?expiring_days=5');
      expect(narrow.body.expiring_soon).toBe(0);
      expect((await as(viewer).get('/api/v1/discovery-summary?expiring_days=0')).status).toBe(400);
    });
  });

  describe('deployment verification', () => {
    let deployJob: string;
    let fingerprint: string;

    const verify = (key: string, job: string, body: object) => as(key).post(`/api/v1/jobs/${job}/verify`, body);

    it('needs a claimed Deployment job: 409 before the claim and for other job types', async () => {
      // Map agent A's target and deploy: a Pending Deployment job routed to agent A.
      const mapped = await t.http
        .put(`/api/v1/certificates/${issued.certId}`)
        .set('Authorization', admin)
        .send({ target_ids: [ids.target] });
      expect(mapped.status).toBe(200);
      const deploy = await as(admin).post(`/api/v1/certificates/${issued.certId}/deploy`, { target_ids: [ids.target] });
      expect(deploy.status).toBeLessThan(300);
      const jobs = await t.ds.query<{ id: string; status: string; agent_id: string }[]>(
        `SELECT id, status, agent_id FROM jobs WHERE certificate_id = $1 AND type = 'Deployment'`,
        [issued.certId],
      );
      expect(jobs).toHaveLength(1);
      expect(jobs[0]).toEqual(expect.objectContaining({ status: 'Pending', agent_id: ids.agentA }));
      deployJob = jobs[0].id;
      fingerprint = (
        await t.ds.query<{ fingerprint_sha256: string }[]>(
          `SELECT fingerprint_sha256 FROM certificate_versions WHERE id = $1`,
          [issued.versionId],
        )
      )[0].fingerprint_sha256;
      const body = { verified: true, expected_fingerprint: fingerprint, served_fingerprint: fingerprint };
      const early = await verify(keyA, deployJob, body);
      expect(early.status).toBe(409);
      expect(early.body.message).toContain('Pending');

      const issuance = await t.ds.query<{ id: string }[]>(
        `SELECT id FROM jobs WHERE certificate_id = $1 AND type = 'Issuance'`,
        [issued.certId],
      );
      const wrongType = await verify(admin, issuance[0].id, body);
      expect(wrongType.status).toBe(409);
      expect(wrongType.body.message).toContain('Deployment');
      expect((await verify(admin, `job-nope-${tag}`, body)).status).toBe(404);
      expect((await as(viewer).get(`/api/v1/jobs/${issuance[0].id}/verification`)).status).toBe(404);
      expect((await as(viewer).get(`/api/v1/jobs/job-nope-${tag}/verification`)).status).toBe(404);
    });

    it('stores the latest result of the agent of the job; reads it back; audits each report', async () => {
      const claim = await as(keyA).post(`/api/v1/agents/${ids.agentA}/jobs/${deployJob}/status`, { status: 'Running' });
      expect(claim.status).toBe(200);
      const colon = fingerprint.toUpperCase().match(/../g)!.join(':');
      const ok = await verify(keyA, deployJob, {
        verified: true,
        expected_fingerprint: colon,
        served_fingerprint: fingerprint,
        endpoint: 'api.dv.example.com:443',
      });
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual(
        expect.objectContaining({
          job_id: deployJob,
          certificate_id: issued.certId,
          target_id: ids.target,
          version_id: issued.versionId,
          verified: true,
          expected_fingerprint: fingerprint,
          served_fingerprint: fingerprint,
          endpoint: 'api.dv.example.com:443',
          error: null,
          reported_by: ids.agentA,
        }),
      );
      const read = await as(viewer).get(`/api/v1/jobs/${deployJob}/verification`);
      expect(read.status).toBe(200);
      expect(read.body).toEqual(ok.body);

      const served = 'ab'.repeat(32);
      const failed = await verify(keyA, deployJob, {
        verified: false,
        expected_fingerprint: fingerprint,
        served_fingerprint: served,
        error: 'the endpoint still serves the previous certificate',
      });
      expect(failed.status).toBe(200);
      const unreachable = await verify(keyA, deployJob, {
        verified: false,
        expected_fingerprint: fingerprint,
        served_fingerprint: null,
        error: 'connect ECONNREFUSED 127.0.0.1:443',
      });
      expect(unreachable.status).toBe(200);
      expect(unreachable.body.served_fingerprint).toBeNull();
      expect(
        (
          await verify(keyA, deployJob, {
            verified: false,
            expected_fingerprint: fingerprint,
            served_fingerprint: served,
            error: 'the endpoint still serves the previous certificate',
          })
        ).status,
      ).toBe(200);
      const latest = await as(viewer).get(`/api/v1/jobs/${deployJob}/verification`);
      expect(latest.body).toEqual(
        expect.objectContaining({ verified: false, served_fingerprint: served, endpoint: null }),
      );
      expect(await t.ds.query(`SELECT 1 FROM job_verifications WHERE job_id = $1`, [deployJob])).toHaveLength(1);
      // Best-effort: the job is untouched.
      expect((await t.ds.query(`SELECT status FROM jobs WHERE id = $1`, [deployJob]))[0].status).toBe('Running');
      expect(await auditOf('deployment_verified', issued.certId)).toHaveLength(1);
      const fail = await auditOf('deployment_verification_failed', issued.certId);
      expect(fail).toHaveLength(3);
      expect(fail[0]).toEqual(
        expect.objectContaining({
          actor: ids.agentA,
          details: expect.objectContaining({ job_id: deployJob, verified: false }),
        }),
      );
      // An operator may report too.
      expect(
        (
          await verify(operator, deployJob, {
            verified: true,
            expected_fingerprint: fingerprint,
            served_fingerprint: fingerprint,
          })
        ).status,
      ).toBe(200);
    });

    it('refuses other agents (403), viewers (403) and inconsistent reports (400 naming the field)', async () => {
      const body = { verified: true, expected_fingerprint: fingerprint, served_fingerprint: fingerprint };
      const other = await verify(keyB, deployJob, body);
      expect(other.status).toBe(403);
      expect(other.body.message).toContain(ids.agentB);
      expect((await verify(viewer, deployJob, body)).status).toBe(403);
      expect((await as(keyA).get(`/api/v1/jobs/${deployJob}/verification`)).status).toBe(403);
      const cases: [object, string][] = [
        [{ expected_fingerprint: fingerprint }, 'body.verified'],
        [{ verified: 'yes', expected_fingerprint: fingerprint }, 'body.verified'],
        [{ verified: true }, 'body.expected_fingerprint'],
        [{ verified: true, expected_fingerprint: 'abc' }, 'body.expected_fingerprint'],
        [{ verified: true, expected_fingerprint: fingerprint }, 'body.served_fingerprint'],
        [
          { verified: true, expected_fingerprint: fingerprint, served_fingerprint: 'cd'.repeat(32) },
          'body.served_fingerprint',
        ],
        [{ ...body, error: 'but it failed' }, 'body.error'],
        [{ verified: false, expected_fingerprint: fingerprint }, 'body.error'],
        [
          { ...body, expected_fingerprint: 'ef'.repeat(32), served_fingerprint: 'ef'.repeat(32) },
          'body.expected_fingerprint',
        ],
        [{ ...body, endpoint: 'x'.repeat(600) }, 'body.endpoint'],
        [{ ...body, extra: 1 }, 'body.extra'],
      ];
      for (const [b, field] of cases) {
        const res = await verify(keyA, deployJob, b);
        expect({ b, status: res.status }).toEqual({ b, status: 400 });
        expect(res.body.message).toContain(field);
      }
    });
  });
});
