import { randomBytes } from 'node:crypto';
import { OpensslDir } from '../../../../libs/pki/src/keys/testing';
import {
  awaitJobStatus,
  certificateVersions,
  createCertificate,
  createLocalCaIssuer,
  createProfile,
  firstCertificatePem,
  ISSUING_ENV,
  runNewJob,
} from '../../../../test/integration/issued-certificates';
import {
  createPrivateDatabase,
  createTestApp,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';
import { CaStore } from '../ca/ca-store';

interface CaBody {
  id: string;
  parent_id: string | null;
  top: boolean;
  state: string;
  issuing: boolean;
  cert_pem: string;
  chain_pem: string;
  path_len_constraint: number | null;
  fingerprint_sha256: string;
  ca_issuers_url: string;
  certificates_active: number;
}

const derOf = (pem: string): Buffer =>
  Buffer.from(
    firstCertificatePem(pem)
      .replace(/-----[A-Z ]+-----/g, '')
      .replace(/\s+/g, ''),
    'base64',
  );

describe('CA hierarchy: intermediates API, CA certificate download, drain-first retirement', () => {
  let db: PrivateDatabase;
  let t: TestApp;
  let admin: string;
  let operator: string;
  let viewer: string;
  const tag = randomBytes(3).toString('hex');
  const issuerId = `iss-hier-${tag}`;
  const ossl = new OpensslDir();
  /** root -> policy (pathLen 1, permitted hier.example.com) -> issuing (pathLen 0) */
  let root: CaBody;
  let policy: CaBody;
  let issuing: CaBody;

  const api = {
    create: (body: object, key = admin, issuer = issuerId) =>
      t.http.post(`/api/v1/issuers/${issuer}/intermediates`).set('Authorization', key).send(body),
    list: (key = admin, issuer = issuerId) =>
      t.http.get(`/api/v1/issuers/${issuer}/intermediates`).set('Authorization', key),
    get: (id: string, key = admin) => t.http.get(`/api/v1/intermediates/${id}`).set('Authorization', key),
    retire: (id: string, body: object = {}, key = admin) =>
      t.http.post(`/api/v1/intermediates/${id}/retire`).set('Authorization', key).send(body),
  };

  const newCertificate = (id: string, commonName: string, sans?: string[]): Promise<void> =>
    createCertificate(t, admin, { id, commonName, sans, issuerId, profileId: `prof-hier-${tag}` });

  /** Runs an issuance/renewal job to its end; returns its final row. */
  const runJob = async (certificateId: string, type: 'Issuance' | 'Renewal') =>
    awaitJobStatus(t, await runNewJob(t, certificateId, type), ['Completed', 'Failed']);

  const versions = (certId: string) => certificateVersions(t, certId);

  /** GET of a binary body (a DER certificate), as a Buffer. */
  const getDer = (path: string) =>
    t.http
      .get(path)
      .buffer(true)
      .parse((r, cb) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => cb(null, Buffer.concat(chunks)));
      });

  const auditRows = (
    action: string,
    resourceId: string,
  ): Promise<{ actor: string; details: Record<string, unknown> }[]> =>
    t.ds.query(`SELECT actor, details FROM audit_events WHERE action = $1 AND resource_id = $2 ORDER BY created_at`, [
      action,
      resourceId,
    ]);

  beforeAll(async () => {
    db = await createPrivateDatabase(`hier_${tag}`);
    t = await createTestApp({ ...db.env, ...ISSUING_ENV });
    admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
    operator = `Bearer ${(await t.mintKey(['operator'])).key}`;
    viewer = `Bearer ${(await t.mintKey(['viewer'])).key}`;
    await createLocalCaIssuer(t, admin, issuerId);
    // No SAN rules: any name passes the profile, so a refusal below comes from the CA's name constraints.
    await createProfile(t, admin, `prof-hier-${tag}`, null, 30 * 86_400);
  });
  afterAll(async () => {
    await t.close();
    await db.drop();
    ossl.remove();
  });

  describe('permissions', () => {
    it('refuses hierarchy changes without ca.hierarchy.manage (viewer and operator: 403) and stores nothing', async () => {
      for (const key of [viewer, operator]) {
        const res = await api.create({ name: 'nope', common_name: 'Nope CA' }, key);
        expect(res.status).toBe(403);
        expect(res.body.message).toContain('ca.hierarchy.manage');
      }
      const rows: unknown[] = await t.ds.query(`SELECT 1 FROM issuer_cas WHERE issuer_id = $1`, [issuerId]);
      expect(rows).toHaveLength(0);
      expect((await api.retire('ica-whatever', {}, viewer)).status).toBe(403);
    });

    it('lets a viewer read the hierarchy (issuer.read); nothing without a credential', async () => {
      const res = await api.list(viewer);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ data: [], total: 0 });
      expect((await t.http.get(`/api/v1/issuers/${issuerId}/intermediates`)).status).toBe(401);
    });
  });

  describe('building root -> policy CA -> issuing CA through the API', () => {
    it('creates an intermediate under the top CA (the root is generated on first use), audited', async () => {
      const res = await api.create({
        name: 'Policy CA',
        common_name: `Hier Policy CA ${tag}`,
        organization: 'Example, Inc.',
        path_len_constraint: 1,
        name_constraints: { permitted_dns: ['hier.example.com'], excluded_dns: ['secret.hier.example.com'] },
      });
      expect(res.status).toBe(201);
      policy = res.body;
      const list = await api.list();
      root = list.body.data.find((c: CaBody) => c.top);
      expect(root).toMatchObject({ parent_id: null, state: 'active', top: true, chain_pem: '' });
      expect(policy).toMatchObject({
        parent_id: root.id,
        top: false,
        state: 'active',
        issuing: true,
        path_len_constraint: 1,
        key_algorithm: 'ECDSA-P256',
        subject: `CN=Hier Policy CA ${tag}, O=Example\\, Inc.`,
        name_constraints: { permitted_dns: ['hier.example.com'], excluded_dns: ['secret.hier.example.com'] },
        certificates_active: 0,
        retired_at: null,
      });
      expect(policy.id).toMatch(/^ica-/);
      expect(policy.chain_pem).toBe(root.cert_pem);
      const audit = await auditRows('intermediate_created', policy.id);
      expect(audit).toHaveLength(1);
      expect(audit[0].details).toMatchObject({ issuer_id: issuerId, parent_id: root.id, path_len_constraint: 1 });
    });

    it('creates the issuing CA under it (pathLen defaults to 0) and hands issuance to it', async () => {
      const res = await api.create({
        name: 'Issuing CA',
        subject: `CN=Hier Issuing CA ${tag}, O=Example`,
        parent_id: policy.id,
        key_algorithm: 'ECDSA-P384',
        validity_days: 400,
      });
      expect(res.status).toBe(201);
      issuing = res.body;
      expect(issuing).toMatchObject({
        parent_id: policy.id,
        path_len_constraint: 0,
        issuing: true,
        key_algorithm: 'ECDSA-P384',
      });
      expect(issuing.chain_pem).toBe(policy.cert_pem + root.cert_pem);
      const lifetime = new Date((issuing as unknown as { not_after: string }).not_after).getTime() - Date.now();
      expect(Math.round(lifetime / 86_400_000)).toBe(400);

      const list = await api.list(viewer);
      expect(list.body.total).toBe(3);
      expect(list.body.data.map((c: CaBody) => [c.id, c.issuing])).toEqual([
        [root.id, false],
        [policy.id, false],
        [issuing.id, true],
      ]);
      const one = await api.get(issuing.id, viewer);
      expect(one.status).toBe(200);
      expect(one.body).toEqual(list.body.data[2]);
    });

    it('puts pathLenConstraint, name constraints and the parent AIA in the certificates (openssl reads them)', () => {
      ossl.write('policy.pem', policy.cert_pem);
      const text = ossl.ok(['x509', '-in', 'policy.pem', '-noout', '-text']);
      expect(text).toMatch(/CA:TRUE, pathlen:1/);
      expect(text).toMatch(
        /X509v3 Name Constraints: critical\s+Permitted:\s+DNS:hier\.example\.com\s+Excluded:\s+DNS:secret\.hier\.example\.com/,
      );
      // Its revocation status and issuer certificate are published under the root's (issuer id) URLs.
      expect(text).toContain(`/.well-known/pki/ca/${issuerId}.crt`);
      expect(text).toContain(`/.well-known/pki/crl/${issuerId}`);
      ossl.write('issuing.pem', issuing.cert_pem);
      const issuingText = ossl.ok(['x509', '-in', 'issuing.pem', '-noout', '-text']);
      expect(issuingText).toMatch(/CA:TRUE, pathlen:0/);
      expect(issuingText).toContain(`/.well-known/pki/ca/${policy.id}.crt`);
    });

    it('refuses a CA under a pathLen-0 CA, a pathLen not below the parent, and names outside the parent, naming the field', async () => {
      const underIssuing = await api.create({ name: 'too deep', common_name: 'Too Deep CA', parent_id: issuing.id });
      expect(underIssuing.status).toBe(400);
      expect(underIssuing.body.message).toMatch(/^body\.path_len_constraint: .*pathLenConstraint 0/);

      const samePathLen = await api.create({
        name: 'x',
        common_name: 'Same Len CA',
        parent_id: policy.id,
        path_len_constraint: 1,
      });
      expect(samePathLen.status).toBe(400);
      expect(samePathLen.body.message).toMatch(/^body\.path_len_constraint: must be below the parent's 1/);

      const outside = await api.create({
        name: 'x',
        common_name: 'Outside CA',
        parent_id: policy.id,
        name_constraints: { permitted_dns: ['elsewhere.example.net'] },
      });
      expect(outside.status).toBe(400);
      expect(outside.body.message).toMatch(
        /^body\.name_constraints\.permitted_dns\[0\]: .*outside the permitted subtrees/,
      );

      const stored: unknown[] = await t.ds.query(`SELECT 1 FROM issuer_cas WHERE issuer_id = $1`, [issuerId]);
      expect(stored).toHaveLength(3);
    });

    it('validates the body and references (400 naming the field), 404 for unknown issuers, 409 for other issuer types', async () => {
      const cases: [object, RegExp][] = [
        [{ common_name: 'No Name CA' }, /^body\.name: /],
        [{ name: 'x' }, /^body\.common_name: required/],
        [{ name: 'x', common_name: 'A', subject: 'CN=B' }, /^body\.subject: give either/],
        [{ name: 'x', subject: 'O=No CN' }, /^body\.subject: a CA subject needs a CN/],
        [{ name: 'x', common_name: 'A', key_algorithm: 'DSA-1024' }, /^body\.key_algorithm: must be one of/],
        [{ name: 'x', common_name: 'A', validity_days: 0 }, /^body\.validity_days: /],
        [{ name: 'x', common_name: 'A', path_len_constraint: -1 }, /^body\.path_len_constraint: /],
        [
          { name: 'x', common_name: 'A', name_constraints: { permitted: ['a.com'] } },
          /^body\.name_constraints\.permitted: unknown field/,
        ],
        [
          { name: 'x', common_name: 'A', name_constraints: { permitted_dns: ['not a name!'] } },
          /^body\.name_constraints\.permitted_dns\[0\]: /,
        ],
        [
          { name: 'x', common_name: 'A', parent_id: 'ica-missing' },
          /^body\.parent_id: CA "ica-missing" does not exist/,
        ],
        [{ name: 'x', common_name: 'A', colour: 'red' }, /^body\.colour: unknown field/],
      ];
      for (const [body, message] of cases) {
        const res = await api.create(body);
        expect({ body, status: res.status, message: res.body.message }).toEqual({
          body,
          status: 400,
          message: expect.stringMatching(message),
        });
      }
      expect((await api.create({ name: 'x', common_name: 'A' }, admin, 'iss-missing')).status).toBe(404);
      expect((await api.list(admin, 'iss-missing')).status).toBe(404);
      expect((await api.get('ica-missing')).status).toBe(404);

      const vault = await t.http
        .post('/api/v1/issuers')
        .set('Authorization', admin)
        .send({
          id: `iss-hier-vault-${tag}`,
          name: `Hier Vault ${tag}`,
          type: 'VaultPKI',
          config: { address: 'https://vault.example.com:8200', mount: 'pki', role: 'web', token: 'hvs.x' },
        });
      expect(vault.status).toBe(201);
      const other = await api.create({ name: 'x', common_name: 'A' }, admin, `iss-hier-vault-${tag}`);
      expect(other.status).toBe(409);
      expect(other.body.message).toContain('only Local CA issuers');
    });
  });

  describe('issuing a leaf through the 3-level hierarchy', () => {
    const certA = `mc-hier-a-${tag}`;
    let leafText: string;

    it('signs new certificates with the issuing CA; openssl verifies root -> policy -> issuing -> leaf', async () => {
      await newCertificate(certA, 'app.hier.example.com', ['api.hier.example.com']);
      expect((await runJob(certA, 'Issuance')).status).toBe('Completed');
      const [v] = await versions(certA);
      expect(v.ca_id).toBe(issuing.id);

      ossl.write('root.pem', root.cert_pem);
      ossl.write('intermediates.pem', issuing.cert_pem + policy.cert_pem);
      ossl.write('leaf.pem', firstCertificatePem(v.pem_chain));
      expect(ossl.ok(['verify', '-CAfile', 'root.pem', '-untrusted', 'intermediates.pem', 'leaf.pem'])).toContain(
        'leaf.pem: OK',
      );
      // The chain stored with the leaf is what -untrusted needs (issuing, then policy).
      ossl.write('served-chain.pem', v.pem_chain.slice(firstCertificatePem(v.pem_chain).length));
      expect(ossl.ok(['verify', '-CAfile', 'root.pem', '-untrusted', 'served-chain.pem', 'leaf.pem'])).toContain('OK');
      // Without the intermediates the leaf does not verify: the check can fail.
      expect(ossl.run(['verify', '-CAfile', 'root.pem', 'leaf.pem']).status).not.toBe(0);
      leafText = ossl.ok(['x509', '-in', 'leaf.pem', '-noout', '-text']);
      expect(leafText).toContain(`Issuer: CN = Hier Issuing CA ${tag}, O = Example`);
    });

    it('serves the AIA caIssuers URL of the leaf unauthenticated: the DER of the issuing CA', async () => {
      const m = /CA Issuers - URI:(\S+)/.exec(leafText);
      expect(m).not.toBeNull();
      const url = new URL(m?.[1] ?? '');
      expect(url.pathname).toBe(`/.well-known/pki/ca/${issuing.id}.crt`);
      expect(issuing.ca_issuers_url).toBe(url.href);
      const res = await getDer(url.pathname);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('application/pkix-cert');
      expect(Buffer.compare(res.body as Buffer, derOf(issuing.cert_pem))).toBe(0);
      ossl.write('fetched.der', res.body as Buffer);
      expect(ossl.ok(['x509', '-inform', 'DER', '-in', 'fetched.der', '-noout', '-subject'])).toContain(
        `Hier Issuing CA ${tag}`,
      );
      expect(res.headers.etag).toBe(`"${issuing.fingerprint_sha256}"`);
      const again = await t.http.get(url.pathname).set('If-None-Match', res.headers.etag);
      expect(again.status).toBe(304);

      // The issuer id names the top CA; unknown ids are 404.
      const top = await getDer(`/.well-known/pki/ca/${issuerId}.crt`);
      expect(top.status).toBe(200);
      expect(Buffer.compare(top.body as Buffer, derOf(root.cert_pem))).toBe(0);
      expect((await t.http.get('/.well-known/pki/ca/iss-nope.crt')).status).toBe(404);
      expect((await t.http.get('/.well-known/pki/ca/ica-nope.crt')).status).toBe(404);
    });

    it('refuses a leaf outside the name constraints: the job fails naming the constraint', async () => {
      const certOut = `mc-hier-out-${tag}`;
      await newCertificate(certOut, 'app.elsewhere.example.net');
      const job = await runJob(certOut, 'Issuance');
      expect(job.status).toBe('Failed');
      expect(job.last_error).toContain('app.elsewhere.example.net');
      expect(job.last_error).toContain('name constraints');
      expect(job.last_error).toContain(`Hier Policy CA ${tag}`);
      expect(await versions(certOut)).toHaveLength(0);

      const excluded = `mc-hier-excl-${tag}`;
      await newCertificate(excluded, 'x.secret.hier.example.com');
      const job2 = await runJob(excluded, 'Issuance');
      expect(job2.status).toBe('Failed');
      expect(job2.last_error).toContain('is excluded');
    });
  });

  describe('drain-first retirement', () => {
    const certA = `mc-hier-a-${tag}`;
    const certB = `mc-hier-b-${tag}`;

    it('refuses the only top CA and a CA with unretired child CAs (409)', async () => {
      const top = await api.retire(root.id);
      expect(top.status).toBe(409);
      expect(top.body.message).toContain('only one');
      const parent = await api.retire(policy.id);
      expect(parent.status).toBe(409);
      expect(parent.body.message).toContain(issuing.id);
      expect((await api.retire('ica-missing')).status).toBe(404);
      expect((await api.retire(issuing.id, {}, operator)).status).toBe(403);
    });

    it('drains the issuing CA: it stops issuing at once, stays draining while its certificates live (202)', async () => {
      await newCertificate(certB, 'b.hier.example.com');
      expect((await runJob(certB, 'Issuance')).status).toBe('Completed');
      expect((await versions(certB))[0].ca_id).toBe(issuing.id);

      const res = await api.retire(issuing.id, { reason: 'key ceremony 2027' });
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ id: issuing.id, state: 'draining', issuing: false, certificates_remaining: 2 });
      const again = await api.retire(issuing.id);
      expect(again.status).toBe(202);
      expect(again.body.certificates_remaining).toBe(2);
      const audit = await auditRows('intermediate_draining', issuing.id);
      expect(audit).toHaveLength(1);
      expect(audit[0].details).toMatchObject({ reason: 'key ceremony 2027', certificates_remaining: 2 });

      const list = await api.list();
      expect(list.body.data.find((c: CaBody) => c.issuing).id).toBe(policy.id);
      // A draining CA signs no new CA either.
      const child = await api.create({ name: 'x', common_name: 'Late CA', parent_id: issuing.id });
      expect(child.status).toBe(400);
      expect(child.body.message).toContain('is draining');
    });

    it('issues the next leaf from the parent; openssl verifies it', async () => {
      expect((await runJob(certA, 'Renewal')).status).toBe('Completed');
      const v = await versions(certA);
      expect(v).toHaveLength(2);
      expect(v[1].ca_id).toBe(policy.id);
      ossl.write('root.pem', root.cert_pem);
      ossl.write('policy-only.pem', policy.cert_pem);
      ossl.write('leaf2.pem', firstCertificatePem(v[1].pem_chain));
      expect(ossl.ok(['verify', '-CAfile', 'root.pem', '-untrusted', 'policy-only.pem', 'leaf2.pem'])).toContain('OK');
    });

    it('keeps the draining CA loadable (its CRL/OCSP signer) and its certificate downloadable', async () => {
      const loaded = await t.app.get(CaStore).load(issuing.id);
      expect(loaded.row.state).toBe('draining');
      expect(loaded.urlId).toBe(issuing.id);
      expect((await t.http.get(`/.well-known/pki/ca/${issuing.id}.crt`)).status).toBe(200);
    });

    it('retires it once its certificates are revoked or expired (200)', async () => {
      // certB's only version is from the draining CA: revoke it.
      const revoked = await t.http
        .post(`/api/v1/certificates/${certB}/revoke`)
        .set('Authorization', admin)
        .send({ reason: 'superseded' });
      expect(revoked.status).toBe(200);
      const still = await api.retire(issuing.id);
      expect(still.status).toBe(202);
      expect(still.body.certificates_remaining).toBe(1);
      // certA's first version (from the draining CA) reaches its end of life.
      const [first] = await versions(certA);
      await t.ds.query(`UPDATE certificate_versions SET not_after = now() - interval '1 minute' WHERE id = $1`, [
        first.id,
      ]);
      const done = await api.retire(issuing.id, { reason: 'drained' });
      expect(done.status).toBe(200);
      expect(done.body).toMatchObject({ state: 'retired', certificates_remaining: 0, issuing: false });
      expect(done.body.retired_at).not.toBeNull();
      const audit = await auditRows('intermediate_retired', issuing.id);
      expect(audit).toHaveLength(1);
      expect(audit[0].details).toMatchObject({ previous_state: 'draining', reason: 'drained' });
      // Idempotent: retiring again answers 200 and records nothing more.
      const again = await api.retire(issuing.id);
      expect(again.status).toBe(200);
      expect(await auditRows('intermediate_retired', issuing.id)).toHaveLength(1);
      expect((await t.app.get(CaStore).load(issuing.id)).row.state).toBe('retired');
    });

    it('retires a CA without live certificates in one call', async () => {
      const spare = await api.create({ name: 'Spare', common_name: `Hier Spare CA ${tag}`, parent_id: policy.id });
      expect(spare.status).toBe(201);
      expect(spare.body.issuing).toBe(true);
      const res = await api.retire(spare.body.id);
      expect(res.status).toBe(200);
      expect(res.body.state).toBe('retired');
      expect((await auditRows('intermediate_retired', spare.body.id))[0].details.previous_state).toBe('active');
      expect((await api.list()).body.data.find((c: CaBody) => c.issuing).id).toBe(policy.id);
    });
  });
});
