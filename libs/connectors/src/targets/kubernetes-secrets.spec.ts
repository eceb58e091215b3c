import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CERT_SHA256_ANNOTATION,
  TARGET_LABEL,
  inClusterEndpoint,
  kubeEndpointFromKubeconfig,
  kubernetesSecretsConnector,
} from './kubernetes-secrets';
import { joinPem } from './pem-file-targets';
import { DeployError, type DeployMaterial } from './target-port';
import { kubeconfigFor, startFakeKubeApi, type FakeKubeApi } from './testing/kube-api-server';
import { makeCa, makeLeaf } from './testing/target-fixtures';
import { certificateFingerprint } from './verify-endpoint';

/*
 * The Kubernetes Secrets connector against a local HTTPS server that speaks the Kubernetes
 * API wire format for Secrets (no cluster in the test environment).
 */
describe('Kubernetes Secrets target connector', () => {
  let dir: string;
  let api: FakeKubeApi;
  let caPem: string;
  let first: DeployMaterial;
  let second: DeployMaterial;
  let n = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'certctl-k8s-'));
    makeCa(dir);
    caPem = readFileSync(join(dir, 'ca.pem'), 'utf8');
    api = await startFakeKubeApi(makeLeaf(dir, 'apiserver'));
    first = makeLeaf(dir, 'first', 'app.example.com');
    second = makeLeaf(dir, 'second', 'app.example.com');
  });
  afterAll(async () => {
    await api?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    api.requests.length = 0;
    api.beforePut = undefined;
  });

  const config = (extra: Record<string, unknown> = {}) => ({
    namespace: 'web',
    secret_name: `site-tls-${++n}`,
    kubeconfig: kubeconfigFor(api.url, caPem, api.token),
    ...extra,
  });
  const deploy = (m: DeployMaterial, cfg: Record<string, unknown>, targetId = 'target-1') =>
    kubernetesSecretsConnector.deploy(m, { targetId, jobId: 'job-1', config: cfg });
  const decode = (s: unknown, k: string) =>
    Buffer.from((s as { data: Record<string, string> }).data[k] ?? '', 'base64').toString('utf8');
  const writes = () => api.requests.filter((r) => !r.startsWith('GET'));

  it('creates a kubernetes.io/tls Secret with the chain in tls.crt, ownership labels, and is idempotent', async () => {
    const cfg = config({ include_ca: true, labels: { team: 'web' }, annotations: { note: 'hi' } });
    const r = await deploy(first, cfg);
    expect(r).toMatchObject({
      changed: true,
      written: [`${api.url}/api/v1/namespaces/web/secrets/${cfg.secret_name}`],
    });
    const s = api.secrets.get(`web/${cfg.secret_name}`);
    expect(s).toMatchObject({
      type: 'kubernetes.io/tls',
      metadata: {
        name: cfg.secret_name,
        labels: { team: 'web', [TARGET_LABEL]: 'target-1', 'app.kubernetes.io/managed-by': 'certctl' },
        annotations: { note: 'hi', [CERT_SHA256_ANNOTATION]: certificateFingerprint(first.certPem) },
      },
    });
    expect(decode(s, 'tls.crt')).toBe(joinPem(first.certPem, first.chainPem));
    expect(decode(s, 'tls.key')).toBe(joinPem(first.keyPem));
    expect(decode(s, 'ca.crt')).toBe(joinPem(first.chainPem));
    expect(writes()).toEqual(['POST /api/v1/namespaces/web/secrets']);

    api.requests.length = 0;
    const again = await deploy(first, cfg);
    expect(again).toMatchObject({ changed: false, written: [] });
    expect(api.requests).toEqual([`GET /api/v1/namespaces/web/secrets/${cfg.secret_name}`]);
  });

  it('updates with the resourceVersion read, keeps foreign keys and labels, and retries after a 409', async () => {
    const cfg = config();
    await deploy(first, cfg);
    const key = `web/${cfg.secret_name}`;
    const stored = api.secrets.get(key);
    if (!stored) throw new Error('not created');
    (stored.data as Record<string, string>).extra = Buffer.from('keep me').toString('base64');
    (stored.metadata.labels as Record<string, string>).other = 'x';

    let raced = false;
    api.beforePut = (k) => {
      if (!raced) {
        raced = true;
        api.touch(k); // another writer got there first
      }
    };
    api.requests.length = 0;
    const r = await deploy(second, cfg);
    expect(r.changed).toBe(true);
    expect(writes()).toEqual([
      `PUT /api/v1/namespaces/web/secrets/${cfg.secret_name}`,
      `PUT /api/v1/namespaces/web/secrets/${cfg.secret_name}`,
    ]);
    const s = api.secrets.get(key);
    expect(decode(s, 'tls.crt')).toBe(joinPem(second.certPem, second.chainPem));
    expect(decode(s, 'tls.key')).toBe(joinPem(second.keyPem));
    expect(decode(s, 'extra')).toBe('keep me');
    expect(s?.metadata.labels).toMatchObject({ other: 'x', [TARGET_LABEL]: 'target-1' });
  });

  it('gives up after repeated conflicts without writing', async () => {
    const cfg = config();
    await deploy(first, cfg);
    api.beforePut = (k) => api.touch(k);
    const err = await deploy(second, cfg).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeployError);
    expect(err).toMatchObject({ step: 'remote', rolledBack: true });
    expect(decode(api.secrets.get(`web/${cfg.secret_name}`), 'tls.crt')).toBe(joinPem(first.certPem, first.chainPem));
  });

  it("refuses another target's Secret and a Secret of another type", async () => {
    const cfg = config();
    await deploy(first, cfg, 'target-1');
    const err = await deploy(second, cfg, 'target-2').catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/belongs to certctl target target-1/);

    const opaque = config();
    api.secrets.set(`web/${opaque.secret_name}`, {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: { name: opaque.secret_name, resourceVersion: '1' },
      data: {},
    });
    const err2 = await deploy(first, opaque).catch((e: unknown) => e);
    expect((err2 as Error).message).toMatch(/type Opaque, not kubernetes.io\/tls/);
    expect(writes()).toEqual(['POST /api/v1/namespaces/web/secrets']);
  });

  it('reports rejected credentials and an untrusted API server certificate', async () => {
    const err = await deploy(first, config({ kubeconfig: kubeconfigFor(api.url, caPem, 'wrong') })).catch(
      (e: unknown) => e,
    );
    expect((err as Error).message).toMatch(/HTTP 401 \(the credentials were rejected\)/);

    const otherCa = join(dir, 'other');
    mkdirSync(otherCa);
    makeCa(otherCa, 'Other CA');
    const err2 = await deploy(
      first,
      config({ kubeconfig: kubeconfigFor(api.url, readFileSync(join(otherCa, 'ca.pem'), 'utf8'), api.token) }),
    ).catch((e: unknown) => e);
    expect((err2 as Error).message).toMatch(/cannot reach the Kubernetes API .*certificate/);
  });

  it('reads kubeconfig contexts and refuses exec plugins', () => {
    const text = kubeconfigFor('https://k8s.example.com:6443', caPem, 'tok');
    const ep = kubeEndpointFromKubeconfig(text);
    expect(ep.server.href).toBe('https://k8s.example.com:6443/');
    expect(ep.token).toBe('tok');
    expect(ep.ca?.toString()).toBe(caPem);
    expect(() => kubeEndpointFromKubeconfig(text, 'nope')).toThrow('kubeconfig has no context named nope');
    const exec = text.replace('    token: "tok"', '    exec:\n      command: aws');
    expect(() => kubeEndpointFromKubeconfig(exec)).toThrow(/exec\/auth-provider plugin/);
  });

  it('uses the mounted service account in a cluster', () => {
    const sa = join(dir, 'sa');
    mkdirSync(sa);
    writeFileSync(join(sa, 'token'), 'sa-token\n');
    writeFileSync(join(sa, 'ca.crt'), caPem);
    const ep = inClusterEndpoint({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, sa);
    expect(ep).toMatchObject({ token: 'sa-token' });
    expect(ep.server.href).toBe('https://10.96.0.1/');
    expect(() => inClusterEndpoint({}, sa)).toThrow(/KUBERNETES_SERVICE_HOST is unset/);
  });
});
