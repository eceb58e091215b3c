import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { chainProblem } from './est-auth';

/** openssl-made chains: root -> intermediate -> leaf, and a look-alike root with the same name. */
describe('chainProblem (EST client certificate chains)', () => {
  let dir: string;
  const cert = (name: string) => new X509Certificate(readFileSync(join(dir, `${name}.pem`)));
  const run = (args: string) => {
    const r = spawnSync('bash', ['-c', `set -e; ${args}`], { cwd: dir, encoding: 'utf8' });
    expect(r.stderr.replace(/^[.+*\n-]*$/gm, '')).not.toMatch(/error/i);
    expect(r.status).toBe(0);
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'certctl-est-chain-'));
    const ec = '-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes';
    const ca = `-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign`;
    run(`openssl req -x509 ${ec} -keyout root.key -out root.pem -days 2 -subj /CN=Root ${ca}
      openssl req -x509 ${ec} -keyout fake.key -out fake.pem -days 2 -subj /CN=Root ${ca}
      printf 'basicConstraints=critical,CA:TRUE\\nkeyUsage=critical,keyCertSign\\n' > ca.ext
      openssl req -new ${ec} -keyout int.key -out int.csr -subj /CN=Intermediate
      openssl x509 -req -in int.csr -CA root.pem -CAkey root.key -CAcreateserial -days 2 -extfile ca.ext -out int.pem
      openssl req -new ${ec} -keyout leaf.key -out leaf.csr -subj /CN=device-1
      openssl x509 -req -in leaf.csr -CA int.pem -CAkey int.key -CAcreateserial -days 2 -out leaf.pem
      openssl x509 -req -in leaf.csr -CA fake.pem -CAkey fake.key -CAcreateserial -days 2 -out forged.pem`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts a leaf whose intermediate the client sent, up to a trust anchor', () => {
    expect(chainProblem(cert('leaf'), [cert('int')], [cert('root')])).toBeUndefined();
    // The intermediate itself may be the anchor.
    expect(chainProblem(cert('leaf'), [], [cert('int')])).toBeUndefined();
  });

  it('refuses a missing intermediate, a look-alike root (same name, other key) and expired certificates', () => {
    expect(chainProblem(cert('leaf'), [], [cert('root')])).toMatch(/does not chain to the trust bundle/);
    // forged.pem names "CN=Root" as issuer: only the signature check tells it apart.
    expect(cert('forged').issuer).toBe(cert('root').subject);
    expect(chainProblem(cert('forged'), [], [cert('root')])).toMatch(/does not chain/);
    expect(chainProblem(cert('leaf'), [cert('int')], [cert('fake')])).toMatch(/does not chain/);
    const later = Date.now() + 5 * 86_400_000;
    expect(chainProblem(cert('leaf'), [cert('int')], [cert('root')], later)).toMatch(/outside its validity/);
  });
});
