import { StrictValidationPipe } from '../http/validation.pipe';
import { CreateAgentGroupDto, UpdateAgentGroupDto } from './dto/agent-group.dto';
import { HeartbeatDto } from './dto/agent.dto';
import {
  compileVersionPattern,
  hasCriteria,
  isCidr,
  isInetAddress,
  normalizeCriteria,
  readStoredCriteria,
  VERSION_PATTERN,
  versionMatches,
} from './match-criteria';

describe('version patterns', () => {
  it('matches exact versions case-insensitively', () => {
    expect(versionMatches('1.4.2', '1.4.2')).toBe(true);
    expect(versionMatches('V1.4.2', 'v1.4.2')).toBe(true);
    expect(versionMatches('1.4.2', '1.4.20')).toBe(false);
    expect(versionMatches('1.4', '1.4.2')).toBe(false);
  });

  it('matches a trailing-* prefix, respecting the dot before it', () => {
    expect(versionMatches('1.4.*', '1.4.0')).toBe(true);
    expect(versionMatches('1.4.*', '1.4.17-rc1')).toBe(true);
    expect(versionMatches('1.4.*', '1.40.0')).toBe(false);
    expect(versionMatches('1.4.*', '1.3.9')).toBe(false);
    expect(versionMatches('v2*', 'V2.0.1')).toBe(true);
  });

  it('never matches an agent that reported no version, even with *', () => {
    expect(versionMatches('*', '')).toBe(false);
    expect(versionMatches('*', '0.0.1')).toBe(true);
    expect(versionMatches('1.4.2', '')).toBe(false);
  });

  it('compiles prefixes to escaped LIKE patterns', () => {
    expect(compileVersionPattern(' 1.4.2 ')).toEqual({ kind: 'exact', value: '1.4.2' });
    expect(compileVersionPattern('1.4.*')).toEqual({ kind: 'prefix', value: '1.4.', like: '1.4.%' });
    expect(compileVersionPattern('v1_2*')).toEqual({ kind: 'prefix', value: 'v1_2', like: 'v1\\_2%' });
    expect(compileVersionPattern('*')).toEqual({ kind: 'prefix', value: '', like: '%' });
  });

  it('accepts only a trailing * in the pattern syntax', () => {
    for (const ok of ['1.4.2', '1.4.*', '*', 'v2*', '2.0.0-rc.1', '1.0+build.5'])
      expect(VERSION_PATTERN.test(ok)).toBe(true);
    for (const bad of ['', '1.*.2', '**', '1.4.**', '*1', '.1', '1 .4', '1%', '1_?']) {
      expect(VERSION_PATTERN.test(bad)).toBe(false);
    }
  });
});

describe('addresses and CIDRs', () => {
  it('accepts IPv4 and IPv6 addresses without zone or prefix', () => {
    expect(isInetAddress('10.0.4.17')).toBe(true);
    expect(isInetAddress('2001:db8::1')).toBe(true);
    expect(isInetAddress('::ffff:10.0.0.1')).toBe(true);
    expect(isInetAddress('fe80::1%eth0')).toBe(false);
    expect(isInetAddress('10.0.0.0/8')).toBe(false);
    expect(isInetAddress('256.1.1.1')).toBe(false);
    expect(isInetAddress('web01')).toBe(false);
  });

  it('accepts CIDRs whose prefix fits the family', () => {
    expect(isCidr('10.0.0.0/8')).toBe(true);
    expect(isCidr('192.168.1.7/32')).toBe(true);
    expect(isCidr('0.0.0.0/0')).toBe(true);
    expect(isCidr('2001:db8::/32')).toBe(true);
    expect(isCidr('::/128')).toBe(true);
    expect(isCidr('10.0.0.0/33')).toBe(false);
    expect(isCidr('2001:db8::/129')).toBe(false);
    expect(isCidr('10.0.0.0')).toBe(false);
    expect(isCidr('10.0.0.0/')).toBe(false);
    expect(isCidr('10.0.0/8')).toBe(false);
    expect(isCidr('fe80::%eth0/64')).toBe(false);
    expect(isCidr('10.0.0.0/8/8')).toBe(false);
  });
});

describe('normalizeCriteria', () => {
  it('trims, de-duplicates case-insensitively and drops empty criteria', () => {
    expect(
      normalizeCriteria({ os: [' Linux', 'linux', ''], architecture: [], ip_cidrs: ['10.0.0.0/8'], version: ' ' }),
    ).toEqual({ os: ['Linux'], ip_cidrs: ['10.0.0.0/8'] });
    expect(normalizeCriteria(undefined)).toEqual({});
  });

  it('knows when a group has no dynamic criteria', () => {
    expect(hasCriteria({})).toBe(false);
    expect(hasCriteria(normalizeCriteria({ os: [''] }))).toBe(false);
    expect(hasCriteria({ version: '1.*' })).toBe(true);
  });
});

describe('readStoredCriteria', () => {
  it('reads well-formed stored criteria', () => {
    expect(readStoredCriteria({ os: ['linux'], ip_cidrs: ['10.0.0.0/8'], version: '1.*' })).toEqual({
      os: ['linux'],
      ip_cidrs: ['10.0.0.0/8'],
      version: '1.*',
    });
    expect(readStoredCriteria({})).toEqual({});
  });

  it('refuses malformed rows as a whole instead of dropping a criterion (which would widen the match)', () => {
    expect(readStoredCriteria({ os: ['linux'], ip_cidrs: ['junk'] })).toBeNull();
    expect(readStoredCriteria({ os: 'linux' })).toBeNull();
    expect(readStoredCriteria({ architecture: [1] })).toBeNull();
    expect(readStoredCriteria({ version: '1.*.2' })).toBeNull();
    expect(readStoredCriteria(['linux'])).toBeNull();
    expect(readStoredCriteria(null)).toBeNull();
  });
});

describe('agent DTO validation', () => {
  const pipe = new StrictValidationPipe();
  const body = async (metatype: new () => object, value: unknown): Promise<string | undefined> => {
    try {
      await pipe.transform(value, { type: 'body', metatype });
      return undefined;
    } catch (e) {
      return (e as { message: string }).message;
    }
  };

  it('names the bad CIDR', async () => {
    expect(
      await body(CreateAgentGroupDto, { name: 'g', match_criteria: { ip_cidrs: ['10.0.0.0/8', '10.1.0.0/40'] } }),
    ).toBe(
      'body.match_criteria.ip_cidrs: contains an invalid CIDR "10.1.0.0/40" (expected address/prefix, e.g. 10.0.0.0/8 or 2001:db8::/32)',
    );
    expect(await body(UpdateAgentGroupDto, { match_criteria: { ip_cidrs: ['nope'] } })).toContain('"nope"');
  });

  it('rejects bad versions, unknown criteria and wrong types, naming the field', async () => {
    expect(await body(CreateAgentGroupDto, { name: 'g', match_criteria: { version: '1.*.2' } })).toMatch(
      /^body\.match_criteria\.version: must be an exact version/,
    );
    expect(await body(CreateAgentGroupDto, { name: 'g', match_criteria: { region: ['eu'] } })).toBe(
      'body.match_criteria.region: unknown field',
    );
    expect(await body(CreateAgentGroupDto, { name: 'g', match_criteria: { os: 'linux' } })).toMatch(
      /^body\.match_criteria\.os: /,
    );
    expect(await body(CreateAgentGroupDto, { name: 'g', match_criteria: ['linux'] })).toMatch(
      /^body\.match_criteria: /,
    );
    expect(await body(CreateAgentGroupDto, { name: 'g', include_agent_ids: [1] })).toMatch(
      /^body\.include_agent_ids: /,
    );
    expect(await body(CreateAgentGroupDto, { name: 'g', enabled: 'yes' })).toMatch(/^body\.enabled: /);
  });

  it('accepts a well-formed group', async () => {
    expect(
      await body(CreateAgentGroupDto, {
        name: 'edge',
        match_criteria: { os: ['linux'], architecture: ['arm64'], ip_cidrs: ['2001:db8::/32'], version: '1.4.*' },
        include_agent_ids: ['ag-1'],
        enabled: false,
      }),
    ).toBeUndefined();
  });

  it('validates heartbeat addresses and lengths', async () => {
    expect(await body(HeartbeatDto, { ip_address: '10.0.0.1', os: 'linux' })).toBeUndefined();
    expect(await body(HeartbeatDto, { ip_address: '' })).toBeUndefined();
    expect(await body(HeartbeatDto, { ip_address: '10.0.0.300' })).toMatch(
      /^body\.ip_address: must be an IPv4 or IPv6/,
    );
    expect(await body(HeartbeatDto, { version: 'x'.repeat(65) })).toMatch(/^body\.version: /);
    expect(await body(HeartbeatDto, { uptime: 5 })).toBe('body.uptime: unknown field');
  });
});
