import {
  hashEnrollmentPassword,
  hashEnrollmentPasswordSync,
  parsePasswordHash,
  PasswordHashFormatError,
  verifyEnrollmentPassword,
} from './enrollment-password';

/** Small costs keep the unit tests fast; the format and the checks are the same. */
const FAST = { N: 1024, r: 8, p: 1 };

describe('enrollment passwords (scrypt)', () => {
  it('hashes to a self-describing string that verifies only the same password', async () => {
    const stored = hashEnrollmentPasswordSync('correct horse battery', FAST);
    expect(stored).toMatch(/^scrypt\$1024\$8\$1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
    expect(await verifyEnrollmentPassword('correct horse battery', stored)).toBe(true);
    expect(await verifyEnrollmentPassword('correct horse batterY', stored)).toBe(false);
    expect(await verifyEnrollmentPassword('', stored)).toBe(false);
    // A random salt: the same password never hashes to the same string twice.
    const again = await hashEnrollmentPassword('correct horse battery', FAST);
    expect(again).not.toBe(stored);
    expect(await verifyEnrollmentPassword('correct horse battery', parsePasswordHash(again))).toBe(true);
  });

  it('the default cost is what the CLI and the boot hashing use, and verifies', async () => {
    const stored = hashEnrollmentPasswordSync('default-cost-pw');
    expect(stored.startsWith('scrypt$32768$8$1$')).toBe(true);
    expect(await verifyEnrollmentPassword('default-cost-pw', stored)).toBe(true);
  });

  it('NFC-normalizes so the same text typed differently matches', async () => {
    const stored = hashEnrollmentPasswordSync('caf\u00e9-password', FAST);
    expect(await verifyEnrollmentPassword('cafe\u0301-password', stored)).toBe(true);
  });

  it('refuses malformed or abusive stored values with a message that does not echo them', () => {
    const good = hashEnrollmentPasswordSync('pw-for-format', FAST).split('$');
    const cases: [string, RegExp][] = [
      ['plain-text-password', /expected scrypt\$N\$r\$p\$salt\$hash/],
      [['bcrypt', ...good.slice(1)].join('$'), /expected scrypt/],
      [[...good.slice(0, 1), '1000', ...good.slice(2)].join('$'), /power of two/],
      [[...good.slice(0, 1), String(1 << 22), ...good.slice(2)].join('$'), /power of two from 2 to 1048576/],
      [[...good.slice(0, 2), '99', ...good.slice(3)].join('$'), /scrypt r must be/],
      [[...good.slice(0, 3), '0', ...good.slice(4)].join('$'), /scrypt p must be/],
      [[...good.slice(0, 4), 'not*base64', good[5]].join('$'), /base64/],
      [[...good.slice(0, 4), 'AAAA', good[5]].join('$'), /salt must be at least 8 bytes/],
      [[...good.slice(0, 5), 'AAAA'].join('$'), /hash must be 16-64 bytes/],
    ];
    for (const [value, msg] of cases) {
      let err: unknown;
      try {
        parsePasswordHash(value);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PasswordHashFormatError);
      expect((err as Error).message).toMatch(msg);
      expect((err as Error).message).not.toContain(value);
    }
  });
});
