import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError, describeApiFailure, readCaBundle } from './index';

const dir = mkdtempSync(join(tmpdir(), 'certctl-api-client-conn-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readCaBundle', () => {
  it('returns the PEM, or names the setting and file it cannot use', () => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    writeFileSync(join(dir, 'ca.pem'), pem);
    writeFileSync(join(dir, 'empty.pem'), '');
    expect(readCaBundle(join(dir, 'ca.pem'))).toBe(pem);
    expect(() => readCaBundle(join(dir, 'none.pem'), '--ca-bundle')).toThrow(
      `cannot read --ca-bundle ${join(dir, 'none.pem')}: ENOENT`,
    );
    expect(() => readCaBundle(join(dir, 'empty.pem'))).toThrow(
      `CERTCTL_SERVER_CA_BUNDLE_PATH ${join(dir, 'empty.pem')} holds no PEM certificate`,
    );
  });
});

describe('describeApiFailure', () => {
  it("gives the API's status, error, message and request id", () => {
    expect(describeApiFailure(new ApiError(403, 'Forbidden', 'the caller lacks `team.create`', 'req-1'))).toBe(
      '403 Forbidden: the caller lacks `team.create` (request req-1)',
    );
    expect(describeApiFailure(new ApiError(404, 'Not Found', 'no team "x"', undefined))).toBe(
      '404 Not Found: no team "x"',
    );
  });

  it("gives a transport failure's message with its cause", () => {
    const refused = new TypeError('fetch failed', { cause: Object.assign(new Error(''), { code: 'ECONNREFUSED' }) });
    expect(describeApiFailure(refused)).toBe('fetch failed (ECONNREFUSED)');
    const tls = new TypeError('fetch failed', { cause: new Error('self-signed certificate in certificate chain') });
    expect(describeApiFailure(tls)).toBe('fetch failed (self-signed certificate in certificate chain)');
  });
});
