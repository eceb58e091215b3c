import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Test fixture: a real `openssl ca` CA in a temp directory (index.txt, serial, newcerts)
 * and the sign/revoke/CRL scripts an operator would write for the OpenSSL issuer. Not for
 * production code.
 */
export class ScriptCa {
  readonly dir: string;
  readonly caCertPath: string;
  readonly signScript: string;
  readonly revokeScript: string;
  readonly crlScript: string;

  constructor(parent = tmpdir()) {
    this.dir = mkdtempSync(join(parent, 'certctl-script-ca-'));
    const d = this.dir;
    mkdirSync(join(d, 'newcerts'));
    writeFileSync(join(d, 'index.txt'), '');
    writeFileSync(join(d, 'serial'), '1000\n');
    writeFileSync(join(d, 'crlnumber'), '01\n');
    writeFileSync(
      join(d, 'openssl.cnf'),
      [
        '[ ca ]',
        'default_ca = CA_default',
        '[ CA_default ]',
        `dir = ${d}`,
        'database = $dir/index.txt',
        'new_certs_dir = $dir/newcerts',
        'certificate = $dir/ca.pem',
        'private_key = $dir/ca.key',
        'serial = $dir/serial',
        'crlnumber = $dir/crlnumber',
        'default_md = sha256',
        'default_days = 30',
        'default_crl_days = 7',
        'policy = policy_any',
        'unique_subject = no',
        'copy_extensions = none',
        '[ policy_any ]',
        'commonName = supplied',
        '',
      ].join('\n'),
    );
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        'ca.key',
        '-out',
        'ca.pem',
      ].concat([
        '-days',
        '365',
        '-subj',
        '/CN=Script Test CA',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ]),
      { cwd: d, stdio: 'pipe' },
    );
    this.caCertPath = join(d, 'ca.pem');
    this.signScript = this.script(
      'sign.sh',
      `csr="$1"; out="$2"
ext="$PWD/ext.cnf"
printf 'basicConstraints=CA:FALSE\\nkeyUsage=critical,digitalSignature\\nextendedKeyUsage=serverAuth\\n' > "$ext"
if [ -n "$CERTCTL_SUBJECT_ALT_NAME" ]; then printf 'subjectAltName=%s\\n' "$CERTCTL_SUBJECT_ALT_NAME" >> "$ext"; fi
if [ -n "$CERTCTL_NOT_AFTER" ]; then life="-enddate $CERTCTL_NOT_AFTER"; else life="-days 30"; fi
# shellcheck disable=SC2086
openssl ca -batch -config "$CA_DIR/openssl.cnf" -in "$csr" -out "$out" -notext -subj "/CN=$CERTCTL_COMMON_NAME" $life -extfile "$ext"`,
    );
    this.revokeScript = this.script(
      'revoke.sh',
      `openssl ca -batch -config "$CA_DIR/openssl.cnf" -revoke "$CA_DIR/newcerts/$CERTCTL_SERIAL_HEX.pem" -crl_reason "$CERTCTL_OPENSSL_REASON"`,
    );
    this.crlScript = this.script('crl.sh', `openssl ca -batch -config "$CA_DIR/openssl.cnf" -gencrl -out "$1"`);
  }

  /** An executable sh script in the CA directory (CA_DIR set, `set -eu`); returns its path. */
  script(name: string, body: string, mode = 0o755): string {
    const path = join(this.dir, name);
    writeFileSync(path, `#!/bin/sh\nset -eu\nCA_DIR='${this.dir}'\n${body}\n`);
    chmodSync(path, mode);
    return path;
  }

  caPem(): string {
    return readFileSync(this.caCertPath, 'utf8');
  }

  index(): string {
    return readFileSync(join(this.dir, 'index.txt'), 'utf8');
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
