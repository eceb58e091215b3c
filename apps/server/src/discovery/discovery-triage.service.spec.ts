import { managedNames } from './discovery-triage.service';

describe('managedNames (a managed certificate from a discovered one)', () => {
  it('keeps a host-name CN and the SANs, without the openssl type prefixes, deduplicated', () => {
    expect(
      managedNames({
        common_name: 'Web.Example.com',
        sans: [
          'DNS:web.example.com',
          'DNS:WWW.example.com',
          'IP Address:10.0.0.5',
          'email:ops@example.com',
          'web.example.com',
        ],
      }),
    ).toEqual({ cn: 'web.example.com', sans: ['web.example.com', 'www.example.com', '10.0.0.5', 'ops@example.com'] });
  });

  it('takes the first DNS or IP SAN when the CN is not a host name', () => {
    expect(managedNames({ common_name: 'Legacy Appliance', sans: ['ops@example.com', 'IP Address:10.0.0.5'] })).toEqual(
      {
        cn: '10.0.0.5',
        sans: ['ops@example.com', '10.0.0.5'],
      },
    );
  });

  it('says why when no name can be derived or a SAN cannot be managed', () => {
    expect(managedNames({ common_name: 'Internal Root CA', sans: [] })).toMatch(/common name "Internal Root CA"/);
    expect(managedNames({ common_name: 'a.example.com', sans: ['DNS:bad_name!'] })).toMatch(/SANs cannot be managed/);
  });
});
