import { parseRfc3339, parseStatusList, plausibleId, rfc3339Problem, tagsProblem } from './certificate-input';

describe('parseRfc3339', () => {
  it('parses full date-times with Z or an offset', () => {
    expect(parseRfc3339('2026-01-31T00:00:00Z')?.toISOString()).toBe('2026-01-31T00:00:00.000Z');
    expect(parseRfc3339('2026-01-31T02:00:00+02:00')?.toISOString()).toBe('2026-01-31T00:00:00.000Z');
    expect(parseRfc3339('2026-01-31t00:00:00.123456z')?.toISOString()).toBe('2026-01-31T00:00:00.123Z');
    expect(parseRfc3339('2024-02-29T23:59:59-05:30')?.toISOString()).toBe('2024-03-01T05:29:59.000Z');
  });

  it('refuses dates, impossible calendar or clock values and missing zones', () => {
    for (const bad of [
      '2026-01-31',
      '2026-01-31T00:00:00',
      '2025-02-29T00:00:00Z',
      '2026-04-31T00:00:00Z',
      '2026-13-01T00:00:00Z',
      '2026-01-01T24:00:00Z',
      '2026-01-01T00:60:00Z',
      '2026-01-01T00:00:00+24:00',
      'yesterday',
      '1767225600',
      '2026-01-01 00:00:00Z',
      '0000-01-01T00:00:00Z',
    ]) {
      expect({ bad, parsed: parseRfc3339(bad) }).toEqual({ bad, parsed: undefined });
    }
  });

  it('hints at %2B when a + offset arrived as a space', () => {
    expect(rfc3339Problem('2026-01-01T00:00:00 02:00')).toMatch(/%2B/);
    expect(rfc3339Problem('nope')).not.toMatch(/%2B/);
  });
});

describe('parseStatusList', () => {
  it('matches case-insensitively and drops duplicates', () => {
    expect(parseStatusList('active')).toEqual(['Active']);
    expect(parseStatusList('Active,EXPIRING,active,renewalinprogress')).toEqual([
      'Active',
      'Expiring',
      'RenewalInProgress',
    ]);
  });
  it('names the bad value and the allowed ones', () => {
    expect(parseStatusList('Active,Bogus')).toMatch(/^"Bogus" is not a certificate status \(allowed: Pending, Active/);
    expect(parseStatusList('Active,')).toMatch(/^"" is not a certificate status/);
  });
});

describe('tagsProblem', () => {
  it('accepts flat string maps', () => {
    expect(tagsProblem({})).toBeUndefined();
    expect(tagsProblem({ service: 'api', 'cost-center': 'cc-42' })).toBeUndefined();
  });
  it('names what is wrong', () => {
    expect(tagsProblem([])).toBe('must be an object of string values');
    expect(tagsProblem(null)).toBe('must be an object of string values');
    expect(tagsProblem('x')).toBe('must be an object of string values');
    expect(tagsProblem({ n: 1 })).toBe('value of "n" must be a string');
    expect(tagsProblem({ n: { deep: 'x' } })).toBe('value of "n" must be a string');
    expect(tagsProblem({ '': 'x' })).toMatch(/^key "" must be/);
    expect(tagsProblem({ k: 'a\nb' })).toMatch(/printable/);
    expect(tagsProblem({ k: 'v'.repeat(257) })).toMatch(/at most 256/);
    expect(tagsProblem(Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v'])))).toMatch(/at most 50/);
  });
});

describe('plausibleId', () => {
  it('refuses ids no row can have', () => {
    expect(plausibleId('mc-api-prod')).toBe(true);
    expect(plausibleId('Legacy_ID.1')).toBe(true);
    expect(plausibleId('')).toBe(false);
    expect(plausibleId('mc-\u0000')).toBe(false);
    expect(plausibleId('x'.repeat(257))).toBe(false);
  });
});
