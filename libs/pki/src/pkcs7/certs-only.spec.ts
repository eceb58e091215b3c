import * as pkijs from 'pkijs';
import { DomainError, ErrorCode } from '@certctl/domain';
import { makeCa, makeLeaf, openssl, tempDir } from '../crl/test-fixtures';
import { certsOnlyPkcs7 } from './certs-only';

function expectInvalid(fn: () => unknown, message: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(DomainError);
  expect((err as DomainError).code).toBe(ErrorCode.Validation);
  expect((err as DomainError).message).toMatch(message);
}

describe('certsOnlyPkcs7', () => {
  it('lists the certificates, in order and byte for byte, for openssl pkcs7 -print_certs', async () => {
    const root = await makeCa({ name: 'CN=PKCS7 Root' });
    const issuing = await makeCa({ parent: root, name: 'CN=PKCS7 Issuing' });
    const leaf = await makeLeaf(issuing, { cn: 'device.test' });
    const der = certsOnlyPkcs7([leaf.certDer, issuing.certDer, root.certDer]);

    const t = tempDir({ 'p7.der': der });
    try {
      const printed = openssl(['pkcs7', '-inform', 'DER', '-in', t.path('p7.der'), '-print_certs']);
      expect(printed.status).toBe(0);
      const subjects = [...printed.stdout.matchAll(/^subject=(.*)$/gm)].map((m) => m[1]);
      expect(subjects).toEqual(['CN = device.test', 'CN = PKCS7 Issuing', 'CN = PKCS7 Root']);
      const pems = printed.stdout.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
      expect(pems.map((p) => p.replace(/\s/g, ''))).toEqual(
        [leaf.certPem, issuing.certPem, root.certPem].map((p) => p.replace(/\s/g, '')),
      );
      // It is a SignedData with no signer, which openssl's CMS parser also accepts.
      const cms = openssl(['cms', '-cmsout', '-inform', 'DER', '-in', t.path('p7.der'), '-print']);
      expect(cms.status).toBe(0);
      expect(cms.stdout).toMatch(/signerInfos:\s*<EMPTY>/);
    } finally {
      t.remove();
    }

    const info = pkijs.ContentInfo.fromBER(der);
    expect(info.contentType).toBe(pkijs.ContentInfo.SIGNED_DATA);
    const sd = new pkijs.SignedData({ schema: info.content });
    expect(sd.version).toBe(1);
    expect(sd.digestAlgorithms).toHaveLength(0);
    expect(sd.signerInfos).toHaveLength(0);
    expect(sd.encapContentInfo.eContentType).toBe(pkijs.ContentInfo.DATA);
    expect(sd.encapContentInfo.eContent).toBeUndefined();
    expect(sd.certificates).toHaveLength(3);
  });

  it('wraps a single certificate (EST /cacerts with one CA)', async () => {
    const root = await makeCa();
    const der = certsOnlyPkcs7([Buffer.from(root.certDer)]);
    const t = tempDir({ 'p7.der': der });
    try {
      const printed = openssl(['pkcs7', '-inform', 'DER', '-in', t.path('p7.der'), '-print_certs', '-noout']);
      expect(printed.status).toBe(0);
      expect(printed.stdout).toContain('subject=CN = certctl test root P-256, O = certctl');
    } finally {
      t.remove();
    }
  });

  it('refuses an empty list and anything that is not a DER certificate', async () => {
    const root = await makeCa();
    expectInvalid(() => certsOnlyPkcs7([]), /at least one certificate/);
    expectInvalid(() => certsOnlyPkcs7('x' as unknown as Uint8Array[]), /at least one certificate/);
    expectInvalid(
      () => certsOnlyPkcs7([root.certDer, 'pem' as unknown as Uint8Array]),
      /certsDer\[1\] must be DER bytes/,
    );
    expectInvalid(() => certsOnlyPkcs7([new Uint8Array([1, 2, 3])]), /certsDer\[0\] is not a DER X\.509 certificate/);
    expectInvalid(
      () => certsOnlyPkcs7([Buffer.concat([root.certDer, Buffer.from([0])])]),
      /certsDer\[0\] is not a DER X\.509 certificate/,
    );
    expectInvalid(
      () => certsOnlyPkcs7([new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x05])]),
      /certsDer\[0\] is not a DER X\.509 certificate/,
    );
  });
});
