import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { scanDirectories, type DiscoveredCertificate } from './filesystem';

/** Runs the real openssl CLI in `cwd`; throws with its stderr when it fails. */
function openssl(cwd: string, args: string[]): string {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** What openssl itself says about a certificate file. */
function opensslFacts(cwd: string, file: string, inform = 'PEM') {
  const out = openssl(cwd, [
    'x509',
    '-in',
    file,
    '-inform',
    inform,
    '-noout',
    '-serial',
    '-fingerprint',
    '-sha256',
    '-startdate',
    '-enddate',
  ]);
  const field = (k: string) => new RegExp(`^${k}=(.*)$`, 'm').exec(out)?.[1] ?? '';
  return {
    serial: field('serial').toLowerCase(),
    fingerprint: field('sha256 Fingerprint').replace(/:/g, '').toLowerCase(),
    notBefore: new Date(field('notBefore')).toISOString(),
    notAfter: new Date(field('notAfter')).toISOString(),
  };
}

function put(root: string, rel: string, content: string | Buffer, mode?: number): string {
  const p = join(root, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, content);
  if (mode !== undefined) chmodSync(p, mode);
  return p;
}

/**
 * Runs `fn` as an unprivileged user. Root reads every file whatever its mode, so when the
 * tests run as root the effective uid/gid are dropped to nobody for the call (the saved
 * uid stays 0, so they can be restored).
 */
async function asNobody<T>(fn: () => Promise<T>): Promise<T> {
  if (process.getuid?.() !== 0) return fn();
  process.setegid?.(65534);
  process.seteuid?.(65534);
  try {
    return await fn();
  } finally {
    process.seteuid?.(0);
    process.setegid?.(0);
  }
}

describe('scanDirectories', () => {
  const work = mkdtempSync(join(tmpdir(), 'certctl-discovery-'));
  const tree = join(work, 'tree');
  let caPem: string;
  let leafPem: string;
  let leafKeyPem: string;

  beforeAll(() => {
    chmodSync(work, 0o755);
    openssl(work, [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-subj',
      '/O=Example Org/CN=Discovery Test CA',
      '-days',
      '30',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-out',
      'ca.pem',
    ]);
    openssl(work, [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'leaf.key',
      '-subj',
      '/CN=app.example.com',
      '-out',
      'leaf.csr',
    ]);
    writeFileSync(
      join(work, 'leaf.ext'),
      'basicConstraints=CA:FALSE\nsubjectAltName=DNS:app.example.com,DNS:www.example.com,IP:127.0.0.1,email:ops@example.com,URI:https://example.com/svc\n',
    );
    openssl(work, [
      'x509',
      '-req',
      '-in',
      'leaf.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '10',
      '-extfile',
      'leaf.ext',
      '-out',
      'leaf.pem',
    ]);
    openssl(work, ['x509', '-in', 'leaf.pem', '-outform', 'DER', '-out', 'leaf.der']);
    caPem = readFileSync(join(work, 'ca.pem'), 'utf8');
    leafPem = readFileSync(join(work, 'leaf.pem'), 'utf8');
    leafKeyPem = readFileSync(join(work, 'leaf.key'), 'utf8');

    put(tree, 'bundle.pem', leafPem + '\n' + caPem);
    put(tree, 'nested/deeper/leaf.der', readFileSync(join(work, 'leaf.der')));
    put(tree, 'nested/with-key.crt', `${leafKeyPem}${leafPem}`);
    put(tree, 'nested/UPPER.CER', caPem);
    put(tree, 'dup.cert', leafPem + leafPem);
    put(tree, 'only-key.pem', leafKeyPem);
    put(tree, 'junk.pem', 'not a certificate at all\n');
    put(tree, 'junk.der', Buffer.concat([Buffer.from([0x30, 0x82, 0x01, 0x00]), randomBytes(256)]));
    put(tree, 'broken.crt', '-----BEGIN CERTIFICATE-----\nMIIB!!notbase64\n-----END CERTIFICATE-----\n');
    put(
      tree,
      'bad-der-in-pem.pem',
      `-----BEGIN CERTIFICATE-----\n${randomBytes(90).toString('base64')}\n-----END CERTIFICATE-----\n`,
    );
    put(tree, 'notes.txt', leafPem); // not a certificate extension: not read
    symlinkSync(tree, join(tree, 'nested', 'loop')); // a directory link back to the root
    symlinkSync(join(tree, 'bundle.pem'), join(tree, 'link.pem'));
    symlinkSync(join(work, 'missing.pem'), join(tree, 'dangling.pem'));
  });

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const byPath = (certs: DiscoveredCertificate[], rel: string) =>
    certs.filter((c) => c.source_path === join(tree, rel));

  it('finds every certificate of PEM bundles and DER files, with the facts openssl reports', async () => {
    const r = await scanDirectories([tree]);
    const leafFacts = opensslFacts(work, 'leaf.pem');
    const caFacts = opensslFacts(work, 'ca.pem');
    expect(opensslFacts(work, 'leaf.der', 'DER').fingerprint).toBe(leafFacts.fingerprint);

    const bundle = byPath(r.certificates, 'bundle.pem');
    expect(bundle).toHaveLength(2);
    const [leaf, ca] = bundle;
    expect(leaf).toEqual({
      source_path: join(tree, 'bundle.pem'),
      format: 'pem',
      fingerprint_sha256: leafFacts.fingerprint,
      common_name: 'app.example.com',
      sans: ['app.example.com', 'www.example.com', '127.0.0.1', 'ops@example.com', 'https://example.com/svc'],
      serial: leafFacts.serial,
      issuer_dn: 'O=Example Org, CN=Discovery Test CA',
      subject_dn: 'CN=app.example.com',
      not_before: leafFacts.notBefore,
      not_after: leafFacts.notAfter,
      key_algorithm: 'ECDSA',
      key_size: 256,
      is_ca: false,
    });
    expect(ca).toMatchObject({
      fingerprint_sha256: caFacts.fingerprint,
      common_name: 'Discovery Test CA',
      sans: [],
      serial: caFacts.serial,
      subject_dn: 'O=Example Org, CN=Discovery Test CA',
      issuer_dn: 'O=Example Org, CN=Discovery Test CA',
      not_after: caFacts.notAfter,
      key_algorithm: 'RSA',
      key_size: 2048,
      is_ca: true,
    });

    expect(byPath(r.certificates, 'nested/deeper/leaf.der')).toEqual([
      { ...leaf, source_path: join(tree, 'nested/deeper/leaf.der'), format: 'der' },
    ]);
    expect(byPath(r.certificates, 'nested/UPPER.CER').map((c) => c.fingerprint_sha256)).toEqual([caFacts.fingerprint]);
    expect(byPath(r.certificates, 'dup.cert')).toHaveLength(1); // the same certificate twice in one file

    // Everything found, each file once; links are not followed by default.
    expect(r.certificates.map((c) => c.source_path.slice(tree.length + 1)).sort()).toEqual([
      'bundle.pem',
      'bundle.pem',
      'dup.cert',
      'nested/UPPER.CER',
      'nested/deeper/leaf.der',
      'nested/with-key.crt',
    ]);
    // bad-der-in-pem, bundle, broken, dup, junk.der, junk.pem, only-key, 4 nested files minus the .txt
    expect(r.filesScanned).toBe(10);
    expect(r.errors).toEqual([
      {
        path: join(tree, 'bad-der-in-pem.pem'),
        message: expect.stringMatching(/^certificate block 1: not a valid X.509 certificate/),
      },
      { path: join(tree, 'broken.crt'), message: 'certificate block 1: has headers or characters outside base64' },
    ]);
  });

  it('reports the certificate of a file that also holds a private key, and nothing of the key', async () => {
    const r = await scanDirectories([join(tree, 'nested')]);
    const withKey = byPath(r.certificates, 'nested/with-key.crt');
    expect(withKey).toHaveLength(1);
    expect(withKey[0].common_name).toBe('app.example.com');
    expect(byPath(r.certificates, 'only-key.pem')).toEqual([]);

    const keyBody = leafKeyPem.split('\n').slice(1, -2).join('');
    const everything = JSON.stringify(await scanDirectories([tree]));
    expect(everything).not.toContain('PRIVATE KEY');
    for (let i = 0; i + 16 <= keyBody.length; i += 16) expect(everything).not.toContain(keyBody.slice(i, i + 16));
  });

  it('follows links only when asked, without looping, and reports dangling ones', async () => {
    const r = await scanDirectories([tree], { followSymlinks: true });
    expect(byPath(r.certificates, 'link.pem')).toHaveLength(2);
    // nested/loop points back at the root: the walk does not enter it again.
    expect(r.certificates.some((c) => c.source_path.includes('/loop/'))).toBe(false);
    expect(r.certificates).toHaveLength(8);
    expect(r.errors).toContainEqual({ path: join(tree, 'dangling.pem'), message: 'does not exist' });
  });

  it('reports unreadable files and directories and goes on', async () => {
    const dir = join(work, 'locked');
    put(dir, 'ok.pem', leafPem);
    put(dir, 'unreadable.pem', leafPem, 0o000);
    put(dir, 'closed/inside.pem', caPem);
    chmodSync(join(dir, 'closed'), 0o000);
    try {
      const r = await asNobody(() => scanDirectories([dir, join(work, 'does-not-exist')]));
      expect(r.certificates.map((c) => c.source_path)).toEqual([join(dir, 'ok.pem')]);
      expect(r.errors).toEqual([
        { path: join(dir, 'closed'), message: 'permission denied' },
        { path: join(dir, 'unreadable.pem'), message: 'permission denied' },
        { path: join(work, 'does-not-exist'), message: 'does not exist' },
      ]);
    } finally {
      chmodSync(join(dir, 'closed'), 0o755);
    }
  });

  it('bounds file size, file count and depth', async () => {
    const big = await scanDirectories([tree], { maxFileBytes: 1000 });
    expect(big.errors).toContainEqual({ path: join(tree, 'bundle.pem'), message: 'larger than 1000 bytes, skipped' });
    expect(byPath(big.certificates, 'bundle.pem')).toEqual([]);

    const few = await scanDirectories([tree], { maxFiles: 3 });
    expect(few.filesScanned).toBe(3);
    expect(few.errors.at(-1)?.message).toBe('stopped after 3 files');

    // Many BEGIN lines without an END: one linear pass, not one rescan of the file per BEGIN.
    const hostile = put(work, 'hostile/many-begins.pem', '-----BEGIN CERTIFICATE-----\n'.repeat(30_000) + leafPem);
    const t0 = Date.now();
    const h = await scanDirectories([hostile]);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(h.certificates).toEqual([]);
    expect(h.errors).toEqual([
      { path: hostile, message: 'certificate block 1: has headers or characters outside base64' },
    ]);
    const unterminated = put(work, 'hostile/unterminated.pem', `${leafPem}-----BEGIN CERTIFICATE-----\nMIIB\n`);
    const u = await scanDirectories([unterminated]);
    expect(u.certificates).toHaveLength(1);
    expect(u.errors).toEqual([{ path: unterminated, message: 'certificate block 2: has no END line' }]);

    const shallow = await scanDirectories([tree], { maxDepth: 1 });
    expect(byPath(shallow.certificates, 'nested/with-key.crt')).toHaveLength(1);
    expect(byPath(shallow.certificates, 'nested/deeper/leaf.der')).toEqual([]);
  });

  it('scans a single file given as a root, describes key kinds certctl does not issue, stops when aborted', async () => {
    const r = await scanDirectories([join(tree, 'nested/deeper/leaf.der')]);
    expect(r.certificates).toHaveLength(1);

    openssl(
      work,
      ['req', '-x509', '-newkey', 'ed448', '-nodes', '-keyout', 'ed448.key', '-subj', '/CN=ed448'].concat([
        '-days',
        '1',
        '-out',
        'ed448.pem',
      ]),
    );
    const ed = await scanDirectories([join(work, 'ed448.pem')]);
    expect(ed.certificates).toEqual([
      expect.objectContaining({ common_name: 'ed448', key_algorithm: 'ed448', key_size: null, is_ca: true, sans: [] }),
    ]);

    const ac = new AbortController();
    ac.abort(new Error('shutting down'));
    await expect(scanDirectories([tree], { signal: ac.signal })).rejects.toThrow('shutting down');
  });
});
