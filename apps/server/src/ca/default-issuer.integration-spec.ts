import { randomBytes } from 'node:crypto';
import { EC_P256, OpensslDir } from '../../../../libs/pki/src/keys/testing';
import {
  createPrivateDatabase,
  createTestApp,
  type PrivateDatabase,
  type TestApp,
} from '../../../../test/integration/test-app';
import { createProfile, ISSUING_ENV, issueCertificate } from '../../../../test/integration/issued-certificates';
import { ConfigError } from '../config/config.schema';
import { DEFAULT_LOCAL_CA_ID, DefaultIssuerBoot } from './default-issuer';

const CA_EXT = [
  '[ca]',
  'basicConstraints = critical, CA:TRUE, pathlen:0',
  'keyUsage = critical, keyCertSign, cRLSign',
  'subjectKeyIdentifier = hash',
  'authorityKeyIdentifier = keyid:always',
  '',
].join('\n');

/** An openssl root, and sub-CAs it signs (what an enterprise CA such as ADCS would hand over). */
function enterprisePki(ossl: OpensslDir): { subCa: (name: string) => { cert: string; key: string } } {
  ossl.write('ca.ext', CA_EXT);
  ossl.ok([
    'req',
    '-x509',
    ...EC_P256,
    '-nodes',
    '-keyout',
    'root.key',
    '-subj',
    '/CN=Enterprise Root/O=Example',
    '-days',
    '3650',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-out',
    'root.pem',
  ]);
  return {
    subCa(name: string) {
      ossl.csr(name, EC_P256, `/CN=certctl ${name}/O=Example`);
      ossl.ok([
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'root.pem',
        '-CAkey',
        'root.key',
        '-CAcreateserial',
        '-days',
        '1825',
        '-extfile',
        'ca.ext',
        '-extensions',
        'ca',
        '-out',
        `${name}.pem`,
      ]);
      return { cert: ossl.path(`${name}.pem`), key: ossl.path(`${name}.key`) };
    },
  };
}

describe('CERTCTL_CA_CERT_PATH / CERTCTL_CA_KEY_PATH: the Local CA issuer in sub-CA mode', () => {
  let db: PrivateDatabase;
  let t: TestApp;
  let admin: string;
  const tag = randomBytes(3).toString('hex');
  const ossl = new OpensslDir();
  const pki = enterprisePki(ossl);
  const sub1 = pki.subCa('sub1');
  const sub2 = pki.subCa('sub2');

  interface IssuerRow {
    name: string;
    type: string;
    enabled: boolean;
    config: Record<string, unknown>;
  }
  const issuer = async (id = DEFAULT_LOCAL_CA_ID): Promise<IssuerRow | undefined> =>
    (await t.ds.query<IssuerRow[]>(`SELECT name, type, enabled, config FROM issuers WHERE id = $1`, [id]))[0];
  const audits = (action: string) =>
    t.ds.query<{ actor: string; details: Record<string, unknown> }[]>(
      `SELECT actor, details FROM audit_events WHERE action = $1 AND resource_id = $2 ORDER BY created_at, id`,
      [action, DEFAULT_LOCAL_CA_ID],
    );
  const externalCas = () =>
    t.ds.query<{ subject: string }[]>(
      `SELECT subject FROM issuer_cas WHERE issuer_id = $1 AND source = 'external' ORDER BY created_at, id`,
      [DEFAULT_LOCAL_CA_ID],
    );

  beforeAll(async () => {
    db = await createPrivateDatabase(`default_issuer_${tag}`);
    t = await createTestApp({
      ...db.env,
      ...ISSUING_ENV,
      CERTCTL_CA_CERT_PATH: sub1.cert,
      CERTCTL_CA_KEY_PATH: sub1.key,
    });
    admin = `Bearer ${(await t.mintKey(['admin'])).key}`;
  }, 60_000);
  afterAll(async () => {
    await t?.close();
    await db?.drop();
    ossl.remove();
  });

  it('creates iss-local "Local CA" at boot with the paths, audited, its CA registered', async () => {
    expect(await issuer()).toEqual({
      name: 'Local CA',
      type: 'LocalCA',
      enabled: true,
      config: { ca_cert_path: sub1.cert, ca_key_path: sub1.key },
    });
    expect(await audits('issuer_created')).toEqual([
      {
        actor: 'system',
        details: expect.objectContaining({
          source: 'CERTCTL_CA_CERT_PATH/CERTCTL_CA_KEY_PATH',
          ca_cert_path: sub1.cert,
        }),
      },
    ]);
    expect((await externalCas()).map((c) => c.subject)).toEqual([expect.stringContaining('CN=certctl sub1')]);
  });

  it('issues through the sub-CA: openssl verifies the leaf against the enterprise root', async () => {
    await createProfile(t, admin, `prof-sub-${tag}`, 'sub.example.com', 30 * 86_400);
    const issued = await issueCertificate(t, admin, {
      id: `mc-sub-${tag}`,
      issuerId: DEFAULT_LOCAL_CA_ID,
      profileId: `prof-sub-${tag}`,
      commonName: 'sub.example.com',
    });
    ossl.write('leaf.pem', issued.leafPem);
    expect(ossl.ok(['verify', '-CAfile', 'root.pem', '-untrusted', 'sub1.pem', 'leaf.pem'])).toContain('leaf.pem: OK');
    // Not by the root alone: the leaf really hangs below the sub-CA.
    expect(ossl.run(['verify', '-CAfile', 'root.pem', 'leaf.pem']).status).not.toBe(0);
    expect(ossl.ok(['x509', '-in', 'leaf.pem', '-noout', '-issuer'])).toContain('certctl sub1');
  });

  it('leaves it alone when a replica boots with the same paths', async () => {
    const boot = t.app.get(DefaultIssuerBoot);
    expect(await boot.ensure({ certPath: sub1.cert, keyPath: sub1.key })).toBe('unchanged');
    expect(await audits('issuer_updated')).toEqual([]);
    expect(await audits('issuer_created')).toHaveLength(1);
    expect(await externalCas()).toHaveLength(1);
  });

  it('updates other paths once when replicas boot together, audited, and never touches other issuers', async () => {
    await t.ds.query(`INSERT INTO issuers (id, name, type, config) VALUES ($1, $1, 'LocalCA', $2)`, [
      `iss-other-${tag}`,
      JSON.stringify({ ca_common_name: 'Other' }),
    ]);
    // A self-signed field set meanwhile (it is refused next to ca_cert_path): dropped by the update.
    await t.ds.query(`UPDATE issuers SET config = config || '{"organization": "Example"}'::jsonb WHERE id = $1`, [
      DEFAULT_LOCAL_CA_ID,
    ]);
    const boot = t.app.get(DefaultIssuerBoot);
    const outcomes = await Promise.all(
      Array.from({ length: 3 }, () => boot.ensure({ certPath: sub2.cert, keyPath: sub2.key })),
    );
    expect(outcomes.sort()).toEqual(['unchanged', 'unchanged', 'updated']);
    expect((await issuer())?.config).toEqual({
      ca_cert_path: sub2.cert,
      ca_key_path: sub2.key,
      organization: 'Example',
    });
    const updated = await audits('issuer_updated');
    expect(updated).toEqual([
      {
        actor: 'system',
        details: expect.objectContaining({
          changed: ['config.ca_cert_path', 'config.ca_key_path'],
          previous: { ca_cert_path: sub1.cert, ca_key_path: sub1.key },
          ca_cert_path: sub2.cert,
        }),
      },
    ]);
    // The new sub-CA is registered once; the old one stays for what it signed.
    expect((await externalCas()).map((c) => c.subject)).toEqual([
      expect.stringContaining('CN=certctl sub1'),
      expect.stringContaining('CN=certctl sub2'),
    ]);
    expect(await issuer(`iss-other-${tag}`)).toMatchObject({
      name: `iss-other-${tag}`,
      config: { ca_common_name: 'Other' },
    });
  });

  it('refuses files that are not a usable CA, and keeps what is stored', async () => {
    const boot = t.app.get(DefaultIssuerBoot);
    ossl.write('plain.ext', '[leaf]\nbasicConstraints = critical, CA:FALSE\n');
    ossl.csr('notca', EC_P256, '/CN=not a CA');
    ossl.ok([
      'x509',
      '-req',
      '-in',
      'notca.csr',
      '-CA',
      'root.pem',
      '-CAkey',
      'root.key',
      '-CAcreateserial',
      '-days',
      '30',
      '-extfile',
      'plain.ext',
      '-extensions',
      'leaf',
      '-out',
      'notca.pem',
    ]);
    const notCa = boot.ensure({ certPath: ossl.path('notca.pem'), keyPath: ossl.path('notca.key') });
    await expect(notCa).rejects.toThrow(ConfigError);
    await expect(notCa).rejects.toThrow(/CERTCTL_CA_CERT_PATH\/CERTCTL_CA_KEY_PATH: .*not a CA certificate/);
    await expect(boot.ensure({ certPath: sub2.cert, keyPath: sub1.key })).rejects.toThrow(/does not match/);
    await expect(boot.ensure({ certPath: ossl.path('missing.pem'), keyPath: sub2.key })).rejects.toThrow(
      /CERTCTL_CA_CERT_PATH: .*missing\.pem cannot be read \(ENOENT\)/,
    );
    expect((await issuer())?.config).toMatchObject({ ca_cert_path: sub2.cert, ca_key_path: sub2.key });
    expect(await audits('issuer_updated')).toHaveLength(1);
  });

  it('refuses to boot with only one of the two variables, naming both', async () => {
    const halves: Record<string, string>[] = [{ CERTCTL_CA_CERT_PATH: sub1.cert }, { CERTCTL_CA_KEY_PATH: sub1.key }];
    for (const env of halves) {
      const boot = createTestApp({ ...db.env, ...env });
      await expect(boot).rejects.toThrow(ConfigError);
      await expect(boot).rejects.toThrow('CERTCTL_CA_CERT_PATH and CERTCTL_CA_KEY_PATH must be set together');
    }
  });
});
