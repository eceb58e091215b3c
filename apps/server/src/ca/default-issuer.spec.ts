import { loadConfig } from '../config/config.schema';

describe('CERTCTL_CA_CERT_PATH / CERTCTL_CA_KEY_PATH', () => {
  it('takes the sub-CA files together or not at all', () => {
    expect(loadConfig({}).issuance.subCa).toBeUndefined();
    expect(
      loadConfig({ CERTCTL_CA_CERT_PATH: '/etc/ca.pem', CERTCTL_CA_KEY_PATH: '/etc/ca.key' }).issuance.subCa,
    ).toEqual({ certPath: '/etc/ca.pem', keyPath: '/etc/ca.key' });
    expect(() => loadConfig({ CERTCTL_CA_KEY_PATH: '/etc/ca.key' })).toThrow(
      'CERTCTL_CA_CERT_PATH and CERTCTL_CA_KEY_PATH must be set together',
    );
  });
});
