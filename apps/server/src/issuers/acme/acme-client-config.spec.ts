import { readAcmeClientConfig } from './acme-client-config';

describe('CERTCTL_ACME_CLIENT_HTTP01_ADDRESS', () => {
  it('is off when unset', () => {
    const problems: string[] = [];
    expect(readAcmeClientConfig({}, problems).http01).toBeUndefined();
    expect(problems).toEqual([]);
  });

  it('takes IP:port, IPv6 in brackets', () => {
    const problems: string[] = [];
    expect(readAcmeClientConfig({ CERTCTL_ACME_CLIENT_HTTP01_ADDRESS: '0.0.0.0:80' }, problems).http01).toEqual({
      host: '0.0.0.0',
      port: 80,
    });
    expect(readAcmeClientConfig({ CERTCTL_ACME_CLIENT_HTTP01_ADDRESS: '[::1]:5002' }, problems).http01).toEqual({
      host: '::1',
      port: 5002,
    });
    expect(problems).toEqual([]);
  });

  it.each(['80', 'example.com:80', '127.0.0.1:0', '127.0.0.1:70000', '127.0.0.1:'])(
    'names the variable for %p',
    (v) => {
      const problems: string[] = [];
      readAcmeClientConfig({ CERTCTL_ACME_CLIENT_HTTP01_ADDRESS: v }, problems);
      expect(problems).toEqual([expect.stringContaining('CERTCTL_ACME_CLIENT_HTTP01_ADDRESS must be IP:port')]);
    },
  );
});
