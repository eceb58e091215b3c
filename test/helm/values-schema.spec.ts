import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { load } from 'js-yaml';
import { CHART, coalescedValues, type Json } from './renderer';

/**
 * helm/certctl/values.schema.json: Helm validates the coalesced values against it before it
 * renders anything. The chart's own values and every example must pass; wrong types, unknown
 * keys and secrets in the ConfigMap section must be refused, naming the offending field.
 */

const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as object;
let validate: ValidateFunction;

beforeAll(() => {
  // strict: false because Helm's validator accepts the schema keywords ajv's strict mode
  // would question (e.g. "description" beside "propertyNames").
  validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
});

const defaults = load(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<string, Json>;

/** The defaults with one change applied at a dotted path. */
function withValue(path: string, value: unknown): Record<string, Json> {
  const copy = structuredClone(defaults);
  const keys = path.split('.');
  let node = copy;
  for (const k of keys.slice(0, -1)) node = node[k] ??= {};
  node[keys[keys.length - 1]] = value;
  return copy;
}

function errors(values: unknown): ErrorObject[] {
  return validate(values) ? [] : (validate.errors ?? []);
}

describe('values.schema.json', () => {
  it.each(['', 'values-dev.yaml', 'values-prod-ha.yaml', 'values-external-db.yaml'])(
    'accepts the chart defaults coalesced with %s',
    (example) => {
      const values = coalescedValues(example ? [join(CHART, 'examples', example)] : []);
      expect(errors(values)).toEqual([]);
    },
  );

  it('accepts the test fixture that enables everything', () => {
    expect(errors(coalescedValues([join(__dirname, 'fixtures/values-everything.yaml')]))).toEqual([]);
  });

  it.each<[string, unknown, string]>([
    ['server.replicas', 'two', '/server/replicas'],
    ['server.replicas', 0, '/server/replicas'],
    ['server.replicas', 2.5, '/server/replicas'],
    ['server.port', 70000, '/server/port'],
    ['server.port', '8443', '/server/port'],
    ['server.logLevel', 'verbose', '/server/logLevel'],
    ['server.publicUrl', 'http://certctl.example.com', '/server/publicUrl'],
    ['server.args', 'node main.js', '/server/args'],
    ['pki.httpPort', 0, '/pki/httpPort'],
    ['pki.httpPort', 70000, '/pki/httpPort'],
    ['pki.httpPort', '8080', '/pki/httpPort'],
    ['pki.publicUrl', 'ftp://pki.example.com', '/pki/publicUrl'],
    ['pki.publicUrl', 'http://pki.example.com/?x=1', '/pki/publicUrl'],
    ['pki.publicUrl', 'http://user:pw@pki.example.com', '/pki/publicUrl'],
    ['server.resources.limits.memory', '1 gig', '/server/resources/limits/memory'],
    ['server.podDisruptionBudget.maxUnavailable', 'half', '/server/podDisruptionBudget/maxUnavailable'],
    ['image.pullPolicy', 'Sometimes', '/image/pullPolicy'],
    ['image.digest', 'latest', '/image/digest'],
    ['tls.selfSigned', 'yes', '/tls/selfSigned'],
    ['tls.certManager.issuerRef.kind', 'CertificateAuthority', '/tls/certManager/issuerRef/kind'],
    ['tls.certManager.duration', '90 days', '/tls/certManager/duration'],
    ['config.CERTCTL_RATE_LIMIT_RPS', 50, '/config/CERTCTL_RATE_LIMIT_RPS'],
    ['secrets.configEncryptionKey', 'too-short', '/secrets/configEncryptionKey'],
    ['secrets.bootstrapToken', 'short', '/secrets/bootstrapToken'],
    ['postgresql.enabled', 'false', '/postgresql/enabled'],
    ['postgresql.auth.password', 'p@ss/word', '/postgresql/auth/password'],
    ['postgresql.persistence.accessModes', ['ReadWriteSometimes'], '/postgresql/persistence/accessModes/0'],
    ['externalDatabase.url', 'mysql://db/certctl', '/externalDatabase/url'],
    ['externalDatabase.port', 'fivefourthreetwo', '/externalDatabase/port'],
    ['externalRedis.url', 'http://redis:6379', '/externalRedis/url'],
    ['agent.enabled', 1, '/agent/enabled'],
    ['agent.keyDir.type', 'nfs', '/agent/keyDir/type'],
    ['agent.keyDir.hostPath', 'relative/dir', '/agent/keyDir/hostPath'],
    ['agent.discoveryDirs', '/etc/ssl', '/agent/discoveryDirs'],
    ['ingress.hosts', [{ paths: [{ path: '/' }] }], '/ingress/hosts/0'],
    ['metrics.prometheusRule.deadLetterNotifications.for', 15, '/metrics/prometheusRule/deadLetterNotifications/for'],
  ])('rejects %s = %j, naming %s', (path, value, instancePath) => {
    const found = errors(withValue(path, value));
    expect(found.length).toBeGreaterThan(0);
    expect(found.map((e) => e.instancePath)).toContain(instancePath);
  });

  it.each([
    'CERTCTL_SMTP_PASSWORD',
    'CERTCTL_BOOTSTRAP_TOKEN',
    'CERTCTL_CONFIG_ENCRYPTION_KEY',
    'CERTCTL_DATABASE_URL',
  ])('refuses the secret %s in config (the ConfigMap): it belongs in secrets.extra', (name) => {
    const found = errors(withValue(`config.${name}`, 'value'));
    expect(found.some((e) => e.keyword === 'propertyNames' || e.propertyName === name)).toBe(true);
    expect(errors(withValue(`secrets.extra.${name}`, 'value'))).toEqual([]);
  });

  it.each(['CERTCTL_AGENT_BOOTSTRAP_TOKEN_DENY_EMPTY', 'CERTCTL_CA_KEY_PATH', 'CERTCTL_PUBLIC_URL'])(
    'accepts the non-secret %s in config',
    (name) => {
      expect(errors(withValue(`config.${name}`, 'value'))).toEqual([]);
    },
  );

  it('accepts pki.httpPort null or a port, and an http:// or https:// pki.publicUrl', () => {
    expect(errors(withValue('pki.httpPort', null))).toEqual([]);
    expect(errors(withValue('pki.httpPort', 8080))).toEqual([]);
    expect(errors(withValue('pki.publicUrl', 'http://pki.example.com'))).toEqual([]);
    expect(errors(withValue('pki.publicUrl', 'https://pki.example.com/certctl'))).toEqual([]);
  });

  it('refuses config keys that are not CERTCTL_* variables', () => {
    expect(errors(withValue('config.LOG_LEVEL', 'debug')).length).toBeGreaterThan(0);
  });

  it('refuses unknown keys, so a typo is not silently ignored', () => {
    expect(errors(withValue('replicaCount', 3)).map((e) => e.params)).toContainEqual({
      additionalProperty: 'replicaCount',
    });
    expect(errors(withValue('server.replica', 3)).map((e) => e.instancePath)).toContain('/server');
  });
});
