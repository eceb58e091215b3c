import { chmodSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { parseCsr } from '@certctl/pki';
import { AcmeClient, newAccountKeyPem } from './acme-client';
import { AcmeConnector, ariCertId } from './acme-connector';
import type { AcmeAccountKey } from './acme-client';
import type { AcmeConnectorDeps } from './acme-deps';
import { AcmeTransport, type AcmeResponse } from './acme-transport';
import { Pebble } from './testing/pebble';

/** Counts what the CA answered (the real transport underneath). */
class CountingTransport extends AcmeTransport {
  readonly problems: string[] = [];
  override async request(...args: Parameters<AcmeTransport['request']>): Promise<AcmeResponse> {
    const r = await super.request(...args);
    if (r.status >= 400) this.problems.push(JSON.parse(r.body.toString('utf8')).type as string);
    return r;
  }
}

/** Server-side dependencies held in memory: the server's Postgres/Redis versions are tested through the server. */
function memoryDeps(): AcmeConnectorDeps {
  const accounts = new Map<string, AcmeAccountKey>();
  return {
    accounts: {
      async load(issuerId, dir, newKeyPem) {
        const k = `${issuerId} ${dir}`;
        if (!accounts.has(k)) accounts.set(k, { privateKeyPem: await newKeyPem() });
        return { ...accounts.get(k)! };
      },
      async saveAccountUrl(issuerId, dir, url) {
        accounts.get(`${issuerId} ${dir}`)!.accountUrl = url;
      },
    },
    // Only used with PEBBLE_VA_ALWAYS_VALID here: nobody fetches the tokens.
    http01: { listenAddress: 'in-memory', publish: async () => {}, withdraw: async () => {} },
    certificates: { certificatePem: async () => undefined },
  };
}

describe('ACME client against Pebble (connector level)', () => {
  let nonces: Pebble;
  let dns: Pebble;
  let chains: Pebble;

  beforeAll(async () => {
    nonces = new Pebble({ alwaysValid: true, nonceRejectPercent: 20 });
    dns = new Pebble({ alwaysValid: false, challtestsrv: true });
    chains = new Pebble({ alwaysValid: true, alternateRoots: 1 });
    await Promise.all([nonces.start(), dns.start(), chains.start()]);
  }, 60_000);
  afterAll(async () => {
    await nonces?.stop();
    await dns?.stop();
    await chains?.stop();
  });

  it('picks the alternate chain (Link rel=alternate) whose root is preferred_chain', async () => {
    const d = chains.dir;
    d.write('root0.pem', await chains.rootPem(0));
    d.write('root1.pem', await chains.rootPem(1));
    const root1Cn = /CN ?= ?(.+)/.exec(d.ok(['x509', '-in', 'root1.pem', '-noout', '-subject']))![1].trim();
    d.ok(
      ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'c.key'].concat([
        '-subj',
        '/CN=chain.acme.test',
        '-addext',
        'subjectAltName=DNS:chain.acme.test',
        '-out',
        'c.csr',
      ]),
    );
    const csr = await parseCsr(d.read('c.csr').toString());
    const issueWith = async (preferred?: string) => {
      const connector = new AcmeConnector(
        {
          issuerId: 'iss-chain',
          urlId: 'iss-chain',
          publicUrl: 'https://localhost',
          config: {
            directory_url: chains.directoryUrl,
            email: 'ops@acme.test',
            trust_ca_path: chains.tlsCaPath,
            ...(preferred ? { preferred_chain: preferred } : {}),
          },
        },
        memoryDeps(),
      );
      const r = await connector.issue({ commonName: 'chain.acme.test', sans: {}, csr });
      d.write('leaf.pem', r.certPem);
      d.write('chain.pem', r.chainPem);
      const verify = (root: string) =>
        d.run(['verify', '-CAfile', root, '-untrusted', 'chain.pem', 'leaf.pem']).status === 0;
      return { root0: verify('root0.pem'), root1: verify('root1.pem') };
    };
    expect(await issueWith()).toEqual({ root0: true, root1: false });
    expect(await issueWith(root1Cn)).toEqual({ root0: false, root1: true });
  });

  it('retries badNonce answers with the fresh nonce they carry', async () => {
    const transport = new CountingTransport(nonces.tlsCaPem);
    const client = new AcmeClient(nonces.directoryUrl, transport);
    await client.useAccountKey({ privateKeyPem: await newAccountKeyPem() });
    await client.register({ email: 'ops@acme.test' });
    for (let i = 0; i < 40; i++) {
      const { order } = await client.newOrder([{ type: 'dns', value: `n${i}.acme.test` }]);
      expect(order.status).toBe('pending');
    }
    // 20 % of 41 requests rejected (none: 0.8^41 < 0.01 %): some badNonce answers were seen, every request still succeeded.
    expect(transport.problems.length).toBeGreaterThan(0);
    expect(new Set(transport.problems)).toEqual(new Set(['urn:ietf:params:acme:error:badNonce']));
  });

  it('proves names with dns-01 through operator hook scripts (argument vectors, no shell)', async () => {
    const d = dns.dir;
    const calls = d.path('hook-calls.log');
    // The hooks talk to pebble-challtestsrv's management API, standing in for a DNS provider's API.
    const hook = (verb: 'set-txt' | 'clear-txt', body: string) =>
      `#!/bin/sh\nset -e\necho "$0 $1 $2" >> ${calls}\ncurl -sf -X POST -d "${body}" ${dns.challtestsrvManagement}/${verb}\n`;
    d.write('present.sh', hook('set-txt', '{\\"host\\":\\"_acme-challenge.$1.\\",\\"value\\":\\"$2\\"}'));
    d.write('cleanup.sh', hook('clear-txt', '{\\"host\\":\\"_acme-challenge.$1.\\"}'));
    chmodSync(d.path('present.sh'), 0o755);
    chmodSync(d.path('cleanup.sh'), 0o755);
    const connector = new AcmeConnector(
      {
        issuerId: 'iss-dns',
        urlId: 'iss-dns',
        publicUrl: 'https://localhost',
        config: {
          directory_url: dns.directoryUrl,
          email: 'ops@acme.test',
          trust_ca_path: dns.tlsCaPath,
          challenge_type: 'dns-01',
          dns_present_script: d.path('present.sh'),
          dns_cleanup_script: d.path('cleanup.sh'),
        },
      },
      memoryDeps(),
    );
    d.ok(
      ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'w.key'].concat([
        '-subj',
        '/CN=dns.acme.test',
        '-addext',
        'subjectAltName=DNS:dns.acme.test,DNS:*.dns.acme.test',
        '-out',
        'w.csr',
      ]),
    );
    const csr = await parseCsr(d.read('w.csr').toString());
    const result = await connector.issue({
      commonName: 'dns.acme.test',
      sans: { dns: ['*.dns.acme.test'] },
      csr,
    });
    d.write('issued.pem', result.certPem + result.chainPem);
    d.write('root.pem', await dns.rootPem());
    d.write('leaf.pem', result.certPem);
    expect(d.ok(['verify', '-CAfile', 'root.pem', '-untrusted', 'issued.pem', 'leaf.pem'])).toContain('OK');
    const log = d.read('hook-calls.log').toString();
    expect(log).toMatch(/present\.sh dns\.acme\.test [A-Za-z0-9_-]{43}\n/);
    expect(log).toMatch(/cleanup\.sh dns\.acme\.test [A-Za-z0-9_-]{43}\n/);
    expect(dns.logs()).toMatch(/dns-01/i);
  });

  it('refuses a CSR whose names differ from the certificate before ordering', async () => {
    const d = dns.dir;
    d.ok(
      ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'x.key'].concat([
        '-subj',
        '/CN=a.acme.test',
        '-addext',
        'subjectAltName=DNS:a.acme.test',
        '-out',
        'x.csr',
      ]),
    );
    const connector = new AcmeConnector(
      {
        issuerId: 'iss-x',
        urlId: 'iss-x',
        publicUrl: 'https://localhost',
        config: { directory_url: dns.directoryUrl, email: 'ops@acme.test', trust_ca_path: dns.tlsCaPath },
      },
      memoryDeps(),
    );
    await expect(
      connector.issue({
        commonName: 'a.acme.test',
        sans: { dns: ['b.acme.test'] },
        csr: await parseCsr(d.read('x.csr').toString()),
      }),
    ).rejects.toThrow(/missing b\.acme\.test/);
  });

  describe('ARI (RFC 9773): Pebble 2.4 has none, so a local HTTPS server plays the CA', () => {
    let server: Server;
    let base = '';
    const seen: string[] = [];
    beforeAll(async () => {
      const d = nonces.dir;
      server = createServer({ cert: d.read('localhost.pem'), key: d.read('localhost.key') }, (req, res) => {
        seen.push(req.url ?? '');
        if (req.url === '/dir' || req.url === '/dir-no-ari') {
          res.setHeader('Content-Type', 'application/json');
          res.end(
            JSON.stringify({
              newNonce: `${base}/nonce`,
              newAccount: `${base}/acct`,
              newOrder: `${base}/order`,
              revokeCert: `${base}/revoke`,
              ...(req.url === '/dir' ? { renewalInfo: `${base}/renewal-info` } : {}),
            }),
          );
        } else if (req.url?.startsWith('/renewal-info/')) {
          res.setHeader('Content-Type', 'application/json');
          res.setHeader('Retry-After', '21600');
          res.end(JSON.stringify({ suggestedWindow: { start: '2027-01-01T00:00:00Z', end: '2027-01-02T00:00:00Z' } }));
        } else {
          res.statusCode = 404;
          res.end();
        }
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    function connectorFor(path: string) {
      return new AcmeConnector(
        {
          issuerId: 'iss-ari',
          urlId: 'iss-ari',
          publicUrl: 'https://localhost',
          config: { directory_url: `${base}${path}`, email: 'ops@acme.test', trust_ca_path: nonces.tlsCaPath },
        },
        memoryDeps(),
      );
    }

    it('asks renewalInfo/<base64url(AKI)>.<base64url(serial octets)> and returns the suggested window', async () => {
      const d = nonces.dir;
      // A serial with the high bit set: its DER content octets start with a zero byte.
      d.ok(
        ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ari.key'].concat([
          '-subj',
          '/CN=ari.acme.test',
          '-out',
          'ari.csr',
        ]),
      );
      d.ok(
        [
          'x509',
          '-req',
          '-in',
          'ari.csr',
          '-CA',
          'tls-ca.pem',
          '-CAkey',
          'tls-ca.key',
          '-set_serial',
          '0x8fa1b2c3d4e5f601',
        ].concat(['-days', '1', '-extfile', d.write('ari.ext', 'authorityKeyIdentifier=keyid\n'), '-out', 'ari.pem']),
      );
      const leaf = d.read('ari.pem').toString();
      const text = d.ok(['x509', '-in', 'ari.pem', '-noout', '-ext', 'authorityKeyIdentifier']);
      const aki = /([0-9A-F]{2}(:[0-9A-F]{2}){7,})/i.exec(text)![1].replace(/:/g, '');
      const expected = `${Buffer.from(aki, 'hex').toString('base64url')}.${Buffer.from('008fa1b2c3d4e5f601', 'hex').toString('base64url')}`;
      expect(ariCertId(leaf)).toBe(expected);
      const info = await connectorFor('/dir').renewalInfo(leaf);
      expect(info?.suggestedWindow).toEqual({ start: '2027-01-01T00:00:00Z', end: '2027-01-02T00:00:00Z' });
      expect(seen).toContain(`/renewal-info/${expected}`);
    });

    it('answers undefined (threshold renewal applies) when the directory has no renewalInfo', async () => {
      const leaf = nonces.dir.read('localhost.pem').toString();
      expect(await connectorFor('/dir-no-ari').renewalInfo(leaf)).toBeUndefined();
    });
  });
});
