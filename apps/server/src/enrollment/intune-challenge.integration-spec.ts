import 'reflect-metadata';
import { createPrivateKey, generateKeyPairSync, KeyObject, randomUUID, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { NestExpressApplication } from '@nestjs/platform-express';
import * as x509 from '@peculiar/x509';
import { CompactSign } from 'jose';
import {
  buildCsr,
  ensureCryptoProvider,
  exportPublicKeyPem,
  generateKeyPair,
  parseCsr,
  type CryptoKeyPair,
  type ParsedCsr,
  type SubjectAltNames,
} from '@certctl/pki';
import { OpensslDir } from '../../../../libs/pki/src/keys/testing';
import { createTestApp } from '../../../../test/integration/test-app';
import { AppConfig, ConfigError, loadConfig } from '../config/config.schema';
import { RedisService } from '../redis/redis.service';
import type { IntuneConfig } from './enrollment-config';
import { IntuneChallengeService, IntuneRejection } from './intune-challenge.service';

/*
 * IntuneChallengeService against the real Redis of this test run, with tokens signed by
 * jose and CSRs built and parsed by libs/pki. The trust anchor file holds an RSA
 * certificate (made by openssl) and a bare EC P-256 public key, the two forms operators use.
 */

const AUD = 'https://certctl.example.com/scep/intune';
const SKEW_MS = 300_000;
const ossl = new OpensslDir();

let rsaKey: KeyObject; // signs RS256, certificate in the anchor file
let ecKey: KeyObject; // signs ES256, public key in the anchor file
let anchorPath: string;
let csrKeys: CryptoKeyPair;
let appConfig: AppConfig;
let redis: RedisService;
let service: IntuneChallengeService;
let cfg: IntuneConfig;

function configFor(env: Record<string, string> = {}): AppConfig {
  const dbUrl = process.env.CERTCTL_TEST_DATABASE_URL;
  const prefix = process.env.CERTCTL_TEST_REDIS_PREFIX;
  if (!dbUrl || !prefix) throw new Error('integration globalSetup did not run');
  return loadConfig({
    CERTCTL_DATABASE_URL: dbUrl,
    CERTCTL_REDIS_PREFIX: `${prefix}:intune`,
    CERTCTL_LOG_LEVEL: 'silent',
    ...env,
  });
}

/** A RedisService whose connection is up (commands fail fast while it connects). */
async function connected(config: AppConfig): Promise<RedisService> {
  const r = new RedisService(config);
  if (r.client.status !== 'ready') await new Promise((resolve) => r.client.once('ready', resolve));
  return r;
}

beforeAll(async () => {
  ossl.ok([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'rsa.key',
    '-subj',
    '/CN=Intune Connector',
    '-days',
    '2',
    '-out',
    'rsa.pem',
  ]);
  rsaKey = createPrivateKey(ossl.read('rsa.key'));
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  ecKey = ec.privateKey;
  anchorPath = ossl.write('anchors.pem', ossl.read('rsa.pem').toString() + exportPublicKeyPem(ec.publicKey));
  csrKeys = await generateKeyPair('ECDSA-P256');

  appConfig = configFor({
    CERTCTL_SCEP_ENABLED: 'true',
    CERTCTL_SCEP_INTUNE_ENABLED: 'true',
    CERTCTL_SCEP_INTUNE_TRUST_ANCHOR_PATH: anchorPath,
    CERTCTL_SCEP_INTUNE_AUDIENCE: AUD,
  });
  const parsed = appConfig.enrollment.scep.labels[0].intune;
  if (!parsed) throw new Error('Intune config was not parsed');
  cfg = parsed;
  redis = await connected(appConfig);
  service = new IntuneChallengeService(appConfig, redis);
  service.onModuleInit();
});

afterAll(async () => {
  await redis.client.quit(); // QUIT: a clean close, no ioredis disconnect timer left for jest
  ossl.remove();
});

type Claims = Record<string, unknown>;

/** Claims a well-behaved connector issues for device "dev1": fresh jti and device_id each time. */
function claims(extra: Claims = {}): Claims {
  const now = Math.floor(Date.now() / 1000);
  return {
    aud: AUD,
    iat: now,
    exp: now + 3600,
    jti: randomUUID(),
    device_id: `device-${randomUUID()}`,
    cn: 'dev1',
    dns: ['dev1.corp.example.com'],
    ...extra,
  };
}

function without(c: Claims, name: string): Claims {
  const copy = { ...c };
  delete copy[name];
  return copy;
}

async function sign(
  payload: Claims,
  alg = 'ES256',
  key: KeyObject | Uint8Array = ecKey,
  header: Claims = {},
): Promise<string> {
  return new CompactSign(Buffer.from(JSON.stringify(payload)))
    .setProtectedHeader({ typ: 'JWT', ...header, alg })
    .sign(key);
}

const b64url = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

async function csr(cn: string | undefined, sans: Partial<SubjectAltNames> = {}): Promise<ParsedCsr> {
  return parseCsr(await buildCsr({ keys: csrKeys, commonName: cn, sans }));
}

const dev1Csr = () => csr('dev1', { dns: ['dev1.corp.example.com'] });

/** The reason verify() refused with; fails the test when it accepted or threw anything else. */
async function reasonOf(p: Promise<unknown>): Promise<string> {
  const outcome = await p.then(
    (v) => ({ accepted: v }),
    (e: unknown) => e,
  );
  expect(outcome).toBeInstanceOf(IntuneRejection);
  return (outcome as IntuneRejection).reason;
}

describe('IntuneChallengeService.verify: signature and header', () => {
  it('accepts RS256 (certificate anchor) and ES256 (public key anchor) tokens and returns device and jti', async () => {
    for (const [alg, key] of [
      ['RS256', rsaKey],
      ['ES256', ecKey],
    ] as const) {
      const c = claims();
      const verdict = await service.verify('', cfg, await sign(c, alg, key), await dev1Csr());
      expect({ alg, verdict }).toEqual({ alg, verdict: { deviceId: c.device_id, tokenId: c.jti } });
    }
  });

  it('refuses HS256 keyed with the trust anchor PEM (algorithm confusion), before any key use', async () => {
    const pem = readFileSync(anchorPath);
    expect(await reasonOf(service.verify('', cfg, await sign(claims(), 'HS256', pem), await dev1Csr()))).toBe(
      'alg HS256 not allowed (only RS256 and ES256)',
    );
  });

  it('refuses alg none, with or without a signature segment', async () => {
    const unsigned = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims())}.`;
    for (const token of [unsigned, `${unsigned}c2ln`]) {
      expect(await reasonOf(service.verify('', cfg, token, await dev1Csr()))).toBe(
        'alg none not allowed (only RS256 and ES256)',
      );
    }
  });

  it('refuses PS256 even when signed by the anchored RSA key', async () => {
    expect(await reasonOf(service.verify('', cfg, await sign(claims(), 'PS256', rsaKey), await dev1Csr()))).toBe(
      'alg PS256 not allowed (only RS256 and ES256)',
    );
  });

  it('refuses a token signed by a key that is not a trust anchor', async () => {
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    expect(await reasonOf(service.verify('', cfg, await sign(claims(), 'ES256', stranger), await dev1Csr()))).toBe(
      'signature does not verify',
    );
  });

  it('refuses a token whose payload was changed after signing', async () => {
    const [h, , s] = (await sign(claims())).split('.');
    const forged = `${h}.${b64url(claims({ cn: 'dev1' }))}.${s}`;
    expect(await reasonOf(service.verify('', cfg, forged, await dev1Csr()))).toBe('signature does not verify');
  });

  it('refuses headers that bring their own key (jwk, jku, x5u) or critical extensions', async () => {
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = attacker.publicKey.export({ format: 'jwk' });
    const cases: Array<[Claims, string]> = [
      [{ jwk }, 'jwk'],
      [{ jku: 'https://attacker.example/keys' }, 'jku'],
      [{ x5u: 'https://attacker.example/cert.pem' }, 'x5u'],
    ];
    for (const [header, name] of cases) {
      const token = await sign(claims(), 'ES256', attacker.privateKey, header);
      expect({ name, reason: await reasonOf(service.verify('', cfg, token, await dev1Csr())) }).toEqual({
        name,
        reason: `JWS header carries ${name}: keys and extensions named by the token are not accepted`,
      });
    }
    const crit = `${b64url({ alg: 'ES256', crit: ['exp'], exp: 1 })}.${b64url(claims())}.c2ln`;
    expect(await reasonOf(service.verify('', cfg, crit, await dev1Csr()))).toMatch(/JWS header carries crit/);
  });

  it('refuses things that are not compact JWS, naming the problem', async () => {
    const cases: Array<[string, string]> = [
      ['', 'challenge is empty'],
      ['static-password', 'challenge is not a compact JWS (1 dot-separated parts, expected 3)'],
      ['a.b.c.d.e', 'challenge is not a compact JWS (5 dot-separated parts, expected 3)'],
      ['e30=.e30.sig', 'challenge JWS header is not base64url'],
      [`${Buffer.from('not json').toString('base64url')}.e30.sig`, 'challenge JWS header is not JSON'],
      [`${b64url([1])}.e30.sig`, 'challenge JWS header is not a JSON object'],
      [`${b64url({ typ: 'JWT' })}.e30.sig`, 'JWS header has no alg'],
      ['a'.repeat(9000), 'challenge is 9000 characters, over the 8192 maximum'],
    ];
    const parsed = await dev1Csr();
    for (const [token, reason] of cases) {
      expect({ token: token.slice(0, 30), reason: await reasonOf(service.verify('', cfg, token, parsed)) }).toEqual({
        token: token.slice(0, 30),
        reason,
      });
    }
  });
});

describe('IntuneChallengeService.verify: time and audience claims', () => {
  const now = () => Math.floor(Date.now() / 1000);
  /** The number of seconds a reason quotes (the clock moves between signing and verifying). */
  const seconds = (reason: string, shape: RegExp): number => {
    expect(reason).toMatch(shape);
    return Number(shape.exec(reason)?.[1]);
  };

  it('refuses an expired token, and accepts one expired within the allowed skew', async () => {
    const expired = claims({ iat: now() - 3600, exp: now() - 600 });
    expect(
      seconds(
        await reasonOf(service.verify('', cfg, await sign(expired), await dev1Csr())),
        /^token expired (\d+) s ago \(allowed skew 300 s\)$/,
      ),
    ).toBeCloseTo(600, -2);
    const late = claims({ iat: now() - 3600, exp: now() - 60 });
    await expect(service.verify('', cfg, await sign(late), await dev1Csr())).resolves.toMatchObject({
      tokenId: late.jti,
    });
  });

  it('refuses iat in the future beyond the skew, and accepts it within', async () => {
    const future = claims({ iat: now() + 900, exp: now() + 4000 });
    expect(
      seconds(
        await reasonOf(service.verify('', cfg, await sign(future), await dev1Csr())),
        /^token issued (\d+) s in the future \(iat; allowed skew 300 s\)$/,
      ),
    ).toBeCloseTo(900, -2);
    const slightly = claims({ iat: now() + 60 });
    await expect(service.verify('', cfg, await sign(slightly), await dev1Csr())).resolves.toMatchObject({
      tokenId: slightly.jti,
    });
  });

  it('honours nbf', async () => {
    const notYet = claims({ nbf: now() + 900 });
    expect(
      seconds(
        await reasonOf(service.verify('', cfg, await sign(notYet), await dev1Csr())),
        /^token not valid for another (\d+) s \(nbf; allowed skew 300 s\)$/,
      ),
    ).toBeCloseTo(900, -2);
    const ready = claims({ nbf: now() - 10 });
    await expect(service.verify('', cfg, await sign(ready), await dev1Csr())).resolves.toMatchObject({
      tokenId: ready.jti,
    });
  });

  it('refuses lifetimes over 24 h and exp not after iat', async () => {
    const long = claims({ iat: now(), exp: now() + 25 * 3600 });
    expect(await reasonOf(service.verify('', cfg, await sign(long), await dev1Csr()))).toBe(
      'token lifetime 90000 s exceeds the 24 h maximum',
    );
    const backwards = claims({ iat: now(), exp: now() });
    expect(await reasonOf(service.verify('', cfg, await sign(backwards), await dev1Csr()))).toBe(
      'claim exp is not after iat',
    );
  });

  it('requires iat and exp as NumericDates, fractional seconds included', async () => {
    for (const name of ['iat', 'exp']) {
      expect(await reasonOf(service.verify('', cfg, await sign(without(claims(), name)), await dev1Csr()))).toBe(
        `claim ${name} is missing`,
      );
    }
    expect(await reasonOf(service.verify('', cfg, await sign(claims({ exp: 'tomorrow' })), await dev1Csr()))).toBe(
      'claim exp must be a NumericDate (seconds since 1970)',
    );
    const fractional = claims({ iat: now() + 0.25, exp: now() + 3600.0005 });
    await expect(service.verify('', cfg, await sign(fractional), await dev1Csr())).resolves.toMatchObject({
      tokenId: fractional.jti,
    });
  });

  it('refuses a wrong or missing aud, and accepts an aud list that includes ours', async () => {
    expect(
      await reasonOf(
        service.verify('', cfg, await sign(claims({ aud: 'https://other.example/scep' })), await dev1Csr()),
      ),
    ).toBe(`aud "https://other.example/scep" does not include "${AUD}"`);
    expect(await reasonOf(service.verify('', cfg, await sign(without(claims(), 'aud')), await dev1Csr()))).toBe(
      'claim aud is missing',
    );
    const listed = claims({ aud: ['https://other.example/scep', AUD] });
    await expect(service.verify('', cfg, await sign(listed), await dev1Csr())).resolves.toMatchObject({
      tokenId: listed.jti,
    });
  });

  it('requires jti and device_id', async () => {
    for (const name of ['jti', 'device_id']) {
      expect(await reasonOf(service.verify('', cfg, await sign(without(claims(), name)), await dev1Csr()))).toBe(
        `claim ${name} is missing`,
      );
    }
    expect(await reasonOf(service.verify('', cfg, await sign(claims({ device_id: '' })), await dev1Csr()))).toBe(
      'claim device_id must be a non-empty string of at most 1024 characters',
    );
  });
});

describe('IntuneChallengeService.verify: the CSR must ask for exactly what the token grants', () => {
  it('refuses a CN mismatch and a CSR without CN', async () => {
    const token = () => sign(claims({ cn: 'dev1' }));
    expect(
      await reasonOf(service.verify('', cfg, await token(), await csr('dev2', { dns: ['dev1.corp.example.com'] }))),
    ).toBe('cn "dev1" does not match the CSR CN "dev2"');
    expect(
      await reasonOf(service.verify('', cfg, await token(), await csr(undefined, { dns: ['dev1.corp.example.com'] }))),
    ).toBe('the CSR has no CN; the token names cn "dev1"');
  });

  it('refuses a CSR with a SAN the token does not grant', async () => {
    const extra = await csr('dev1', { dns: ['dev1.corp.example.com', 'www.bank.example'] });
    expect(await reasonOf(service.verify('', cfg, await sign(claims()), extra))).toBe(
      'CSR SAN dns "www.bank.example" is not in the token',
    );
  });

  it('refuses a CSR that lacks a SAN the token names', async () => {
    const token = await sign(claims({ email: 'alice@corp.example.com' }));
    expect(await reasonOf(service.verify('', cfg, token, await dev1Csr()))).toBe(
      'token SAN email "alice@corp.example.com" is missing from the CSR',
    );
  });

  it('compares SAN sets order-free and DNS names case-insensitively, across dns, ip, email and uri', async () => {
    const c = claims({
      dns: ['B.Corp.Example.com', 'DEV1.corp.example.COM'],
      ip: '10.0.0.7',
      email: ['alice@corp.example.com'],
      uri: 'urn:device:dev1',
    });
    const parsed = await csr('dev1', {
      dns: ['dev1.corp.example.com', 'b.corp.example.com'],
      ip: ['10.0.0.7'],
      email: ['alice@corp.example.com'],
      uri: ['urn:device:dev1'],
    });
    await expect(service.verify('', cfg, await sign(c), parsed)).resolves.toEqual({
      deviceId: c.device_id,
      tokenId: c.jti,
    });
  });

  it('refuses SAN claims that are not valid names', async () => {
    expect(await reasonOf(service.verify('', cfg, await sign(claims({ dns: ['not a name'] })), await dev1Csr()))).toBe(
      'claim dns: "not a name" is not a valid DNS name',
    );
  });

  it('refuses the upn claim and a CSR asking for a UPN (certctl does not issue otherName SANs)', async () => {
    expect(
      await reasonOf(service.verify('', cfg, await sign(claims({ upn: 'alice@corp.example.com' })), await dev1Csr())),
    ).toMatch(/^claim upn is not supported: certctl does not issue UPN \(otherName\) SANs/);

    ensureCryptoProvider();
    const req = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=dev1',
      keys: csrKeys as never,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.SubjectAlternativeNameExtension([
          { type: 'dns', value: 'dev1.corp.example.com' },
          { type: 'upn', value: 'alice@corp.example.com' },
        ]),
      ],
    });
    const withUpn = await parseCsr(req.toString('pem'));
    expect(await reasonOf(service.verify('', cfg, await sign(claims()), withUpn))).toBe(
      'CSR SAN upn (otherName) is a form certctl does not issue',
    );
  });

  it('verifies the token a SCEP client carries in the CSR challengePassword', async () => {
    ensureCryptoProvider();
    const c = claims({ dns: ['dev1.corp.example.com', 'dev1-wifi.corp.example.com'] });
    const token = await sign(c, 'RS256', rsaKey);
    expect(token.length).toBeGreaterThan(255); // longer than PKCS#9's challengePassword bound
    const req = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=dev1',
      keys: csrKeys as never,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.SubjectAlternativeNameExtension([
          { type: 'dns', value: 'dev1-wifi.corp.example.com' },
          { type: 'dns', value: 'dev1.corp.example.com' },
        ]),
      ],
      attributes: [new x509.ChallengePasswordAttribute(token)],
    });
    const parsed = await parseCsr(req.toString('pem'));
    expect(parsed.challengePassword).toBe(token);
    await expect(service.verify('', cfg, parsed.challengePassword ?? '', parsed)).resolves.toEqual({
      deviceId: c.device_id,
      tokenId: c.jti,
    });
  });
});

describe('IntuneChallengeService.verify: single use and per-device rate limit in Redis', () => {
  it('refuses a replayed jti, also on another replica, and keeps the marker until exp + skew', async () => {
    const c = claims();
    const token = await sign(c);
    await service.verify('', cfg, token, await dev1Csr());
    expect(await reasonOf(service.verify('', cfg, token, await dev1Csr()))).toBe(
      `jti replayed (token "${String(c.jti)}" was already used)`,
    );
    // a second server process: its own Redis connection and anchor cache, same Redis
    const replicaRedis = await connected(appConfig);
    try {
      const replica = new IntuneChallengeService(appConfig, replicaRedis);
      expect(await reasonOf(replica.verify('', cfg, token, await dev1Csr()))).toMatch(/^jti replayed/);
    } finally {
      await replicaRedis.client.quit();
    }
    const keys = await redis.client.keys(redis.key('scep', '_', 'intune-jti', '*'));
    const ttls = await Promise.all(keys.map((k) => redis.client.pttl(k)));
    const bound = (c.exp as number) * 1000 + SKEW_MS - Date.now() + 1000;
    expect(ttls.length).toBeGreaterThan(0);
    for (const t of ttls) expect(t > 0 && t <= bound).toBe(true);
  });

  it('scopes the jti to the label: the same token is a new token on another label', async () => {
    const c = claims();
    const token = await sign(c);
    await service.verify('', cfg, token, await dev1Csr());
    await expect(service.verify('mdm', cfg, token, await dev1Csr())).resolves.toEqual({
      deviceId: c.device_id,
      tokenId: c.jti,
    });
  });

  it('allows perDevicePerHour enrollments per device, then refuses without burning the token', async () => {
    const limited: IntuneConfig = { ...cfg, perDevicePerHour: 3 };
    const device = `device-${randomUUID()}`;
    for (let i = 0; i < 3; i++) {
      await service.verify('rl', limited, await sign(claims({ device_id: device })), await dev1Csr());
    }
    const fourth = claims({ device_id: device });
    const fourthToken = await sign(fourth);
    expect(await reasonOf(service.verify('rl', limited, fourthToken, await dev1Csr()))).toMatch(
      new RegExp(`^device rate limit 3/h reached for device_id "${device}" \\(retry in \\d+ s\\)$`),
    );
    // still limited, and still reported as the limit rather than a replay: the token was not consumed
    expect(await reasonOf(service.verify('rl', limited, fourthToken, await dev1Csr()))).toMatch(/^device rate limit/);
    // another device is unaffected
    await expect(service.verify('rl', limited, await sign(claims()), await dev1Csr())).resolves.toBeDefined();
    const windows = await redis.client.keys(redis.key('scep', 'rl', 'intune-device', '*'));
    const pttls = await Promise.all(windows.map((k) => redis.client.pttl(k)));
    for (const t of pttls) expect(t > 0 && t <= 3_600_000).toBe(true);
  });

  it('fails closed when Redis cannot be reached', async () => {
    // A replica whose Redis connection is gone (ioredis fails commands at once: no offline queue).
    const lost = await connected(appConfig);
    await lost.client.quit();
    const offline = new IntuneChallengeService(appConfig, lost);
    expect(await reasonOf(offline.verify('', cfg, await sign(claims()), await dev1Csr()))).toMatch(
      /^jti replay and device rate limit cannot be checked without Redis \(.+\); rejected$/,
    );
  });
});

describe('IntuneChallengeService trust anchor file', () => {
  const intuneAt = (path: string): IntuneConfig => ({ ...cfg, trustAnchorPath: path });

  async function selfSigned(notBefore: Date, notAfter: Date): Promise<{ pem: string; key: KeyObject }> {
    ensureCryptoProvider();
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      name: 'CN=Old Intune Connector',
      notBefore,
      notAfter,
      keys: keys as never,
      signingAlgorithm: alg,
    });
    return { pem: cert.toString('pem'), key: KeyObject.from(keys.privateKey) };
  }

  it('refuses boot (ConfigError) for a missing, empty, private-key or unusable-key file, naming the label and file', () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const cases: Array<[string, RegExp]> = [
      [ossl.path('missing.pem'), /cannot be read \(ENOENT\)/],
      [ossl.write('empty.pem', '\n'), /is empty/],
      [ossl.write('garbage.pem', 'hello'), /holds no PEM block/],
      [ossl.write('private.pem', ossl.read('rsa.key')), /block 1 \(PRIVATE KEY\) is a private key/],
      [
        ossl.write('p384.pem', exportPublicKeyPem(p384.publicKey)),
        /block 1 \(PUBLIC KEY\) is an EC secp384r1 key; only RSA \(RS256\) and EC P-256/,
      ],
      [
        ossl.write('rsa1024.pem', exportPublicKeyPem(rsa1024.publicKey)),
        /block 1 \(PUBLIC KEY\) is an RSA key of 1024 bits \(RS256 needs 2048 or more\)/,
      ],
      [
        ossl.write('csr.pem', ossl.csr('x', ['-newkey', 'rsa:2048'], '/CN=x')),
        /block 1 \(CERTIFICATE REQUEST\) is not a CERTIFICATE or PUBLIC KEY/,
      ],
    ];
    for (const [path, problem] of cases) {
      const fresh = new IntuneChallengeService(appConfig, redis);
      let thrown: unknown;
      try {
        fresh.checkConfig(intuneAt(path), 'mdm');
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(ConfigError);
      const [message] = (thrown as ConfigError).problems;
      expect({ path, message }).toEqual({
        path,
        message: expect.stringMatching(
          new RegExp(
            `^SCEP label "mdm": Intune trust anchor ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ${problem.source}`,
          ),
        ),
      });
    }
  });

  it('onModuleInit refuses boot when a configured label has an unusable trust anchor', () => {
    const bad = configFor({
      CERTCTL_SCEP_ENABLED: 'true',
      CERTCTL_SCEP_CHALLENGE_PASSWORD: 'static-secret-1',
      CERTCTL_SCEP_PROFILES: 'mdm',
      CERTCTL_SCEP_PROFILE_MDM_INTUNE_ENABLED: 'true',
      CERTCTL_SCEP_PROFILE_MDM_INTUNE_TRUST_ANCHOR_PATH: ossl.path('nowhere.pem'),
      CERTCTL_SCEP_PROFILE_MDM_INTUNE_AUDIENCE: AUD,
    });
    expect(() => new IntuneChallengeService(bad, redis).onModuleInit()).toThrow(
      /SCEP label "mdm": Intune trust anchor .*nowhere\.pem: cannot be read \(ENOENT\)/,
    );
  });

  it('the server app refuses to start with SCEP Intune pointing at an unusable trust anchor', async () => {
    const empty = ossl.write('boot-empty.pem', '');
    let app: NestExpressApplication | undefined;
    const boot = createTestApp(
      {
        CERTCTL_SCEP_ENABLED: 'true',
        CERTCTL_SCEP_INTUNE_ENABLED: 'true',
        CERTCTL_SCEP_INTUNE_TRUST_ANCHOR_PATH: empty,
        CERTCTL_SCEP_INTUNE_AUDIENCE: AUD,
      },
      { beforeInit: (a) => (app = a) },
    );
    try {
      await expect(boot).rejects.toThrow(new ConfigError([`SCEP: Intune trust anchor ${empty}: is empty`]));
    } finally {
      await app?.close(); // the half-started app still holds its database and Redis connections
    }
  });

  it('rejects at verify time when the anchor file is unusable, naming it', async () => {
    const path = ossl.path('gone.pem');
    expect(await reasonOf(service.verify('', intuneAt(path), await sign(claims()), await dev1Csr()))).toBe(
      `trust anchor ${path}: cannot be read (ENOENT)`,
    );
  });

  it('says so when the file has no key for the token algorithm', async () => {
    const ecOnly = ossl.write('ec-only.pem', exportPublicKeyPem(ecKey));
    expect(
      await reasonOf(service.verify('', intuneAt(ecOnly), await sign(claims(), 'RS256', rsaKey), await dev1Csr())),
    ).toBe('alg RS256 needs an RSA trust anchor, and the trust anchor file has none');
  });

  it('does not trust an anchor certificate outside its validity period', async () => {
    const day = 86_400_000;
    const old = await selfSigned(new Date(Date.now() - 10 * day), new Date(Date.now() - day));
    const path = ossl.write('expired-anchor.pem', old.pem);
    expect(
      await reasonOf(service.verify('', intuneAt(path), await sign(claims(), 'ES256', old.key), await dev1Csr())),
    ).toBe(
      'every EC P-256 trust anchor certificate is outside its validity period (certificate CN=Old Intune Connector)',
    );
  });
});
