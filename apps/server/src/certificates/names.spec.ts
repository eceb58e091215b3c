import {
  checkCommonName,
  checkDnsName,
  checkEmail,
  checkIpAddress,
  checkSan,
  checkUri,
  MAX_SANS,
  normalizeSans,
} from './names';

const value = <T>(r: { ok: true; value: T } | { ok: false; error: string }): T => {
  if (!r.ok) throw new Error(`expected ok, got: ${r.error}`);
  return r.value;
};
const error = (r: { ok: boolean; error?: string }): string => {
  if (r.ok) throw new Error('expected an error');
  return r.error!;
};

describe('checkDnsName', () => {
  it('accepts host names and lower-cases them', () => {
    expect(value(checkDnsName('API.Example.COM', { wildcard: false }))).toBe('api.example.com');
    expect(value(checkDnsName('localhost', { wildcard: false }))).toBe('localhost');
    expect(value(checkDnsName('xn--bcher-kva.example', { wildcard: false }))).toBe('xn--bcher-kva.example');
    expect(value(checkDnsName(`${'a'.repeat(63)}.example.com`, { wildcard: false }))).toHaveLength(75);
  });

  it('allows a leading wildcard label over at least two labels, only when asked', () => {
    expect(value(checkDnsName('*.example.com', { wildcard: true }))).toBe('*.example.com');
    expect(error(checkDnsName('*.example.com', { wildcard: false }))).toBe('must not be a wildcard');
    expect(error(checkDnsName('*.com', { wildcard: true }))).toMatch(/at least two labels/);
    expect(error(checkDnsName('api.*.example.com', { wildcard: true }))).toMatch(/leftmost label/);
    expect(error(checkDnsName('a*.example.com', { wildcard: true }))).toMatch(/leftmost label/);
  });

  it('refuses malformed names with a reason', () => {
    expect(error(checkDnsName('', { wildcard: false }))).toBe('must not be empty');
    expect(error(checkDnsName('example.com.', { wildcard: false }))).toMatch(/end with a dot/);
    expect(error(checkDnsName('a..b', { wildcard: false }))).toMatch(/empty label/);
    expect(error(checkDnsName('-a.example.com', { wildcard: false }))).toMatch(/invalid label "-a"/);
    expect(error(checkDnsName('under_score.example.com', { wildcard: false }))).toMatch(/invalid label/);
    expect(error(checkDnsName(`${'a'.repeat(64)}.com`, { wildcard: false }))).toMatch(/invalid label/);
    expect(error(checkDnsName(`${'a.'.repeat(127)}com`, { wildcard: false }))).toMatch(/longer than 253/);
    expect(error(checkDnsName('bücher.example', { wildcard: false }))).toMatch(/punycode/);
    expect(error(checkDnsName('1.2.3.999', { wildcard: false }))).toMatch(/last label is numeric/);
    expect(error(checkDnsName('has space.com', { wildcard: false }))).toMatch(/invalid label/);
  });
});

describe('checkIpAddress', () => {
  it('accepts IPv4 and canonicalizes IPv6', () => {
    expect(value(checkIpAddress('10.0.0.1'))).toBe('10.0.0.1');
    expect(value(checkIpAddress('2001:DB8:0:0:0:0:0:1'))).toBe('2001:db8::1');
    expect(value(checkIpAddress('::ffff:10.0.0.1'))).toBe('::ffff:a00:1');
  });
  it('refuses other text and zone ids', () => {
    expect(checkIpAddress('10.0.0.256').ok).toBe(false);
    expect(checkIpAddress('example.com').ok).toBe(false);
    expect(error(checkIpAddress('fe80::1%eth0'))).toMatch(/zone/);
  });
});

describe('checkEmail', () => {
  it('accepts mailboxes, lower-casing only the domain', () => {
    expect(value(checkEmail('Ops.Team+tls@Example.COM'))).toBe('Ops.Team+tls@example.com');
  });
  it('refuses malformed mailboxes', () => {
    expect(checkEmail('@example.com').ok).toBe(false);
    expect(checkEmail('a..b@example.com').ok).toBe(false);
    expect(checkEmail('a b@example.com').ok).toBe(false);
    expect(error(checkEmail('ops@*.example.com'))).toMatch(/domain must not be a wildcard/);
    expect(checkEmail(`${'a'.repeat(65)}@example.com`).ok).toBe(false);
  });
});

describe('checkUri', () => {
  it('accepts absolute URIs', () => {
    expect(value(checkUri('spiffe://prod.example.com/ns/api'))).toBe('spiffe://prod.example.com/ns/api');
    expect(value(checkUri('urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6'))).toMatch(/^urn:uuid:/);
    expect(value(checkUri('https://example.com/'))).toBe('https://example.com/');
  });
  it('refuses relative, hostless or spaced URIs', () => {
    expect(checkUri('/relative/path').ok).toBe(false);
    expect(error(checkUri('spiffe:///nohost'))).toMatch(/without a host/);
    expect(checkUri('https://exa mple.com/').ok).toBe(false);
    expect(checkUri('urn:').ok).toBe(false);
  });
});

describe('checkCommonName', () => {
  it('is a DNS name (wildcard allowed) or an IP, at most 64 characters', () => {
    expect(value(checkCommonName('API.example.com'))).toBe('api.example.com');
    expect(value(checkCommonName('*.example.com'))).toBe('*.example.com');
    expect(value(checkCommonName('192.0.2.10'))).toBe('192.0.2.10');
    expect(value(checkCommonName('2001:db8::0:1'))).toBe('2001:db8::1');
    expect(error(checkCommonName(`${'a'.repeat(60)}.example.com`))).toMatch(/longer than 64/);
    expect(error(checkCommonName('ops@example.com'))).toMatch(/neither a DNS name nor an IP address/);
    expect(checkCommonName('https://example.com').ok).toBe(false);
  });
});

describe('checkSan', () => {
  it('classifies each kind', () => {
    expect(value(checkSan('www.example.com'))).toEqual({ type: 'dns', value: 'www.example.com' });
    expect(value(checkSan('*.example.com'))).toEqual({ type: 'dns', value: '*.example.com' });
    expect(value(checkSan('10.1.2.3'))).toEqual({ type: 'ip', value: '10.1.2.3' });
    expect(value(checkSan('2001:db8::1'))).toEqual({ type: 'ip', value: '2001:db8::1' });
    expect(value(checkSan('ops@example.com'))).toEqual({ type: 'email', value: 'ops@example.com' });
    expect(value(checkSan('spiffe://example.com/api'))).toEqual({ type: 'uri', value: 'spiffe://example.com/api' });
    expect(value(checkSan('mailto:ops@example.com'))).toEqual({ type: 'uri', value: 'mailto:ops@example.com' });
  });
  it('names the bad entry', () => {
    expect(error(checkSan('not a name'))).toMatch(/^"not a name" is not a DNS name, IP address, email address or URI/);
    expect(error(checkSan('example.com:443'))).toMatch(/^"example.com:443" is not a DNS name/);
    expect(error(checkSan(' padded.example.com'))).toMatch(/padded/);
    expect(error(checkSan(''))).toMatch(/empty/);
    expect(error(checkSan('a@b@example.com'))).toMatch(/not a valid email/);
  });
});

describe('normalizeSans', () => {
  it('drops duplicates in canonical form, keeping first-seen order', () => {
    expect(
      value(
        normalizeSans([
          'B.example.com',
          'a.example.com',
          'b.EXAMPLE.com',
          '2001:db8::1',
          '2001:DB8:0::1',
          'x@Example.com',
          'x@example.com',
        ]),
      ),
    ).toEqual(['b.example.com', 'a.example.com', '2001:db8::1', 'x@example.com']);
  });
  it('names the index of the first bad entry and caps the count', () => {
    expect(error(normalizeSans(['ok.example.com', 'bad name']))).toMatch(/^entry 1: "bad name"/);
    expect(error(normalizeSans(Array.from({ length: MAX_SANS + 1 }, (_, i) => `h${i}.example.com`)))).toMatch(
      /at most 250/,
    );
  });
});
