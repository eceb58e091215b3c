import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CHART,
  REPO,
  kubernetesSchemaErrors,
  render,
  renderManifests,
  renderer,
  type Json,
  type Manifest,
} from './renderer';

/**
 * The Helm chart rendered as `helm template` would (Go templates + sprig, see renderer.ts) with
 * its defaults, each example values file and a values file that turns everything on; every
 * manifest checked against the Kubernetes schemas and against what a reviewer asks of a chart.
 */

const examples = join(CHART, 'examples');
const everything = join(__dirname, 'fixtures/values-everything.yaml');

interface Scenario {
  name: string;
  files: string[];
  /** Secrets the operator creates beforehand (referenced, not rendered). */
  external: string[];
  serverReplicas: number;
}

const scenarios: Scenario[] = [
  { name: 'default values', files: [], external: [], serverReplicas: 2 },
  { name: 'examples/values-dev.yaml', files: [join(examples, 'values-dev.yaml')], external: [], serverReplicas: 1 },
  {
    name: 'examples/values-prod-ha.yaml',
    files: [join(examples, 'values-prod-ha.yaml')],
    external: ['certctl-secrets', 'certctl-database', 'certctl-redis', 'certctl-metrics-key'],
    serverReplicas: 3,
  },
  {
    name: 'examples/values-external-db.yaml',
    files: [join(examples, 'values-external-db.yaml')],
    external: ['certctl-db', 'certctl-tls'],
    serverReplicas: 2,
  },
  {
    name: 'everything enabled',
    files: [everything],
    external: ['certctl-sub-ca', 'certctl-metrics-key', 'certctl-target-secrets'],
    serverReplicas: 3,
  },
];

const WORKLOADS = ['Deployment', 'StatefulSet', 'DaemonSet', 'Job'];
const RECOMMENDED_LABELS = [
  'app.kubernetes.io/name',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/version',
  'app.kubernetes.io/managed-by',
  'app.kubernetes.io/component',
  'helm.sh/chart',
];

const rendered = new Map<string, Manifest[]>();
const schemaProblems = new Map<string, string[]>();

beforeAll(() => {
  renderer(); // builds once (cached by source hash)
  const all: Manifest[] = [];
  const owners: string[] = [];
  for (const s of scenarios) {
    const manifests = renderManifests(s.files);
    rendered.set(s.name, manifests);
    all.push(...manifests);
    owners.push(...manifests.map(() => s.name));
  }
  // One validator process for every manifest (loading the schemas dominates its run time).
  kubernetesSchemaErrors(all).forEach((problems, i) => {
    schemaProblems.set(owners[i], [...(schemaProblems.get(owners[i]) ?? []), ...problems]);
  });
});

const byKind = (ms: Manifest[], kind: string) => ms.filter((m) => m.kind === kind);
const names = (ms: Manifest[], kind: string) => new Set(byKind(ms, kind).map((m) => m.metadata.name));
const podSpec = (m: Manifest): Json => m.spec.template.spec;
const containersOf = (m: Manifest): Json[] => [...(podSpec(m).initContainers ?? []), ...podSpec(m).containers];

/** Every string value anywhere below `node`. */
function strings(node: unknown): string[] {
  if (typeof node === 'string') return [node];
  if (Array.isArray(node)) return node.flatMap(strings);
  if (node && typeof node === 'object') return Object.values(node).flatMap(strings);
  return [];
}

describe.each(scenarios)('chart rendered with $name', (s) => {
  const manifests = () => rendered.get(s.name)!;

  it('validates against the Kubernetes and CRD schemas', () => {
    expect(manifests().length).toBeGreaterThan(5);
    expect(schemaProblems.get(s.name)).toEqual([]);
  });

  it('names every resource once and labels it with the recommended labels', () => {
    const keys = manifests().map((m) => `${m.kind}/${m.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const m of manifests()) {
      const labels = m.metadata.labels ?? {};
      expect({
        resource: `${m.kind}/${m.metadata.name}`,
        missing: RECOMMENDED_LABELS.filter((l) => !labels[l]),
      }).toEqual({ resource: `${m.kind}/${m.metadata.name}`, missing: [] });
      expect(labels['app.kubernetes.io/managed-by']).toBe('Helm');
      expect(m.metadata.name.length).toBeLessThanOrEqual(63);
    }
  });

  it('runs the server with the requested replicas, HTTPS probes on /health and /ready', () => {
    const [server] = byKind(manifests(), 'Deployment').filter((d) => d.metadata.name.endsWith('-server'));
    expect(server).toBeDefined();
    expect(server.spec.replicas).toBe(s.serverReplicas);
    const c = podSpec(server).containers[0];
    const ports = new Set(c.ports.map((p: Json) => p.name));
    for (const [probe, path] of [
      ['livenessProbe', '/health'],
      ['readinessProbe', '/ready'],
      ['startupProbe', '/health'],
    ] as const) {
      expect(c[probe].httpGet).toMatchObject({ path, scheme: 'HTTPS' });
      expect(ports.has(c[probe].httpGet.port)).toBe(true);
    }
    // args, not command: the image's entrypoint (tini) stays PID 1 to forward SIGTERM.
    expect(c.command).toBeUndefined();
    expect(c.args).toEqual(['node', 'dist/apps/server/apps/server/src/main.js']);
    // Config from a ConfigMap and a Secret.
    expect(c.envFrom.map((e: Json) => Object.keys(e)[0]).sort()).toEqual(['configMapRef', 'secretRef']);
  });

  it('locks every pod down: non-root, read-only root, no privilege escalation, ALL dropped, RuntimeDefault', () => {
    const workloads = manifests().filter((m) => WORKLOADS.includes(m.kind));
    expect(workloads.length).toBeGreaterThan(0);
    for (const w of workloads) {
      const pod = podSpec(w);
      expect(pod.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
      expect(pod.securityContext?.runAsNonRoot).toBe(true);
      expect(pod.automountServiceAccountToken).toBe(false);
      for (const c of containersOf(w)) {
        const where = `${w.kind}/${w.metadata.name}/${c.name}`;
        const sc = c.securityContext ?? {};
        expect({ where, allowPrivilegeEscalation: sc.allowPrivilegeEscalation }).toEqual({
          where,
          allowPrivilegeEscalation: false,
        });
        expect({ where, readOnlyRootFilesystem: sc.readOnlyRootFilesystem }).toEqual({
          where,
          readOnlyRootFilesystem: true,
        });
        expect({ where, drop: sc.capabilities?.drop }).toEqual({ where, drop: ['ALL'] });
        expect({ where, seccomp: (sc.seccompProfile ?? pod.securityContext.seccompProfile)?.type }).toEqual({
          where,
          seccomp: 'RuntimeDefault',
        });
        if (c.name === 'key-dir') {
          // The agent's one root step: chown/chmod of its key directory, with only those rights.
          expect(sc.capabilities.add).toEqual(['CHOWN', 'FOWNER']);
          expect(c.command.join(' ')).toContain('chmod 0700');
        } else {
          expect({ where, runAsNonRoot: sc.runAsNonRoot ?? pod.securityContext.runAsNonRoot }).toEqual({
            where,
            runAsNonRoot: true,
          });
        }
        expect({ where, memoryLimit: c.resources?.limits?.memory !== undefined }).toEqual({ where, memoryLimit: true });
        expect({ where, requests: c.resources?.requests !== undefined }).toEqual({ where, requests: true });
      }
    }
  });

  it('selects its own pods and references only objects that exist', () => {
    const ms = manifests();
    const secrets = new Set([...names(ms, 'Secret'), ...s.external]);
    // cert-manager fills the Certificate's Secret.
    for (const c of byKind(ms, 'Certificate')) secrets.add(c.spec.secretName);
    const configMaps = names(ms, 'ConfigMap');
    const accounts = names(ms, 'ServiceAccount');
    const claims = names(ms, 'PersistentVolumeClaim');
    for (const w of ms.filter((m) => WORKLOADS.includes(m.kind))) {
      const where = `${w.kind}/${w.metadata.name}`;
      if (w.kind !== 'Job') {
        const labels = w.spec.template.metadata.labels;
        for (const [k, v] of Object.entries(w.spec.selector.matchLabels))
          expect({ where, k, v: labels[k] }).toEqual({ where, k, v });
      }
      const pod = podSpec(w);
      if (pod.serviceAccountName)
        expect({ where, sa: accounts.has(pod.serviceAccountName) }).toEqual({ where, sa: true });
      for (const c of containersOf(w)) {
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef?.name;
          if (ref)
            expect({ where, secret: ref, exists: secrets.has(ref) }).toEqual({ where, secret: ref, exists: true });
        }
        for (const e of c.envFrom ?? []) {
          if (e.secretRef)
            expect({ where, secret: e.secretRef.name, exists: secrets.has(e.secretRef.name) }).toEqual({
              where,
              secret: e.secretRef.name,
              exists: true,
            });
          if (e.configMapRef) expect(configMaps.has(e.configMapRef.name)).toBe(true);
        }
        const volumes = new Set((pod.volumes ?? []).map((v: Json) => v.name));
        const claimTemplates = new Set((w.spec.volumeClaimTemplates ?? []).map((v: Json) => v.metadata.name));
        for (const m of c.volumeMounts ?? []) {
          expect({ where, mount: m.name, ok: volumes.has(m.name) || claimTemplates.has(m.name) }).toEqual({
            where,
            mount: m.name,
            ok: true,
          });
        }
      }
      for (const v of pod.volumes ?? []) {
        if (v.secret)
          expect({ where, secret: v.secret.secretName, exists: secrets.has(v.secret.secretName) }).toEqual({
            where,
            secret: v.secret.secretName,
            exists: true,
          });
        if (v.persistentVolumeClaim) expect(claims.has(v.persistentVolumeClaim.claimName)).toBe(true);
      }
    }
    // Every Service reaches pods through a named port those pods declare.
    const pods = ms.filter((m) => WORKLOADS.includes(m.kind) && m.kind !== 'Job');
    for (const svc of byKind(ms, 'Service')) {
      const targets = pods.filter((p) =>
        Object.entries(svc.spec.selector).every(([k, v]) => p.spec.template.metadata.labels[k] === v),
      );
      expect({ service: svc.metadata.name, pods: targets.length > 0 }).toEqual({
        service: svc.metadata.name,
        pods: true,
      });
      for (const port of svc.spec.ports) {
        const declared = targets.some((p) =>
          podSpec(p).containers.some((c: Json) => c.ports?.some((cp: Json) => cp.name === port.targetPort)),
        );
        expect({ service: svc.metadata.name, port: port.targetPort, declared }).toEqual({
          service: svc.metadata.name,
          port: port.targetPort,
          declared: true,
        });
      }
    }
  });

  it('splits the roles when workers run: server pods CERTCTL_ROLE=api, workers worker, else all', () => {
    const deployments = byKind(manifests(), 'Deployment');
    const roleOf = (d: Json) => podSpec(d).containers[0].env?.find((e: Json) => e.name === 'CERTCTL_ROLE')?.value;
    const server = deployments.find((d) => d.metadata.name.endsWith('-server'))!;
    const worker = deployments.find((d) => d.metadata.name.endsWith('-worker'));
    if (worker) {
      expect(roleOf(server)).toBe('api');
      expect(roleOf(worker)).toBe('worker');
    } else {
      // Unset means all: without workers the server pods must consume the queues and run the loops.
      expect(roleOf(server)).toBeUndefined();
    }
  });

  it('scrapes every server and worker pod when monitoring is enabled', () => {
    const ms = manifests();
    const monitors = [...byKind(ms, 'ServiceMonitor'), ...byKind(ms, 'PodMonitor')];
    if (monitors.length === 0) return; // monitoring off in this scenario: nothing to scrape with
    const services = byKind(ms, 'Service');
    const matches = (selector: Json, labels: Json) => Object.entries(selector).every(([k, v]) => labels[k] === v);
    const certctlPods = byKind(ms, 'Deployment').filter((d) =>
      ['server', 'worker'].includes(d.spec.template.metadata.labels['app.kubernetes.io/component']),
    );
    expect(certctlPods.length).toBeGreaterThan(0);
    for (const d of certctlPods) {
      const labels = d.spec.template.metadata.labels;
      const ports = new Set(podSpec(d).containers[0].ports.map((p: Json) => p.name));
      const scrapedBy = monitors.filter((m) => {
        if (m.kind === 'PodMonitor') {
          return (
            matches(m.spec.selector.matchLabels, labels) &&
            m.spec.podMetricsEndpoints.every((e: Json) => ports.has(e.port))
          );
        }
        return services.some(
          (svc) =>
            matches(m.spec.selector.matchLabels, svc.metadata.labels) &&
            matches(svc.spec.selector, labels) &&
            m.spec.endpoints.every((e: Json) => svc.spec.ports.some((p: Json) => p.name === e.port)),
        );
      });
      expect({ deployment: d.metadata.name, scraped: scrapedBy.length }).toEqual({
        deployment: d.metadata.name,
        scraped: 1,
      });
      const [endpoint] = scrapedBy[0].kind === 'PodMonitor' ? scrapedBy[0].spec.podMetricsEndpoints : scrapedBy[0].spec.endpoints; // prettier-ignore
      expect(endpoint).toMatchObject({
        path: '/api/v1/metrics/prometheus',
        scheme: 'https',
        authorization: { type: 'Bearer', credentials: { key: 'api-key' } },
      });
    }
  });

  it('keeps every Secret value out of ConfigMaps, plain env values and annotations', () => {
    const ms = manifests();
    const secretValues = byKind(ms, 'Secret').flatMap((sec) => [
      ...Object.values<string>(sec.data ?? {}).map((b64) => Buffer.from(b64, 'base64').toString('utf8')),
      ...Object.values<string>(sec.stringData ?? {}),
    ]);
    expect(secretValues.length).toBeGreaterThanOrEqual(byKind(ms, 'Secret').length);
    const exposed: string[] = [];
    for (const m of ms.filter((x) => x.kind !== 'Secret')) {
      const visible = [
        ...strings(m.kind === 'ConfigMap' ? m.data : []),
        ...strings(m.metadata.annotations ?? {}),
        ...(WORKLOADS.includes(m.kind)
          ? containersOf(m).flatMap((c) => (c.env ?? []).map((e: Json) => e.value ?? ''))
          : []),
        ...strings(m.spec ?? {}),
      ];
      for (const secret of secretValues) {
        if (visible.some((v) => v.includes(secret))) exposed.push(`${m.kind}/${m.metadata.name}`);
      }
    }
    expect(exposed).toEqual([]);
  });

  it('runs migrations as a Helm hook Job before upgrades', () => {
    const [job] = byKind(manifests(), 'Job');
    expect(job.metadata.name).toMatch(/-migrations$/);
    const hooks = (job.metadata.annotations?.['helm.sh/hook'] ?? '').split(',');
    expect(hooks).toContain('pre-upgrade');
    // Bundled PostgreSQL only exists after install; an external one is migrated before it.
    const bundled = byKind(manifests(), 'StatefulSet').some((x) => x.metadata.name.endsWith('-postgresql'));
    expect(hooks).toContain(bundled ? 'post-install' : 'pre-install');
    expect(podSpec(job).containers[0].args.join(' ')).toContain('cli/migrate.js');
    expect(podSpec(job).restartPolicy).toBe('Never');
    if (hooks.includes('pre-install')) {
      // Before install only hook resources (created first, lower weight) and the operator's
      // own Secrets exist: the Job may depend on nothing else.
      const weight = Number(job.metadata.annotations?.['helm.sh/hook-weight'] ?? 0);
      const earlierHooks = new Set(
        byKind(manifests(), 'Secret')
          .filter((x) => x.metadata.annotations?.['helm.sh/hook']?.includes('pre-install'))
          .filter((x) => Number(x.metadata.annotations?.['helm.sh/hook-weight'] ?? 0) < weight)
          .map((x) => x.metadata.name),
      );
      const refs = containersOf(job).flatMap((c) => [
        ...(c.env ?? []).map((e: Json) => e.valueFrom?.secretKeyRef?.name).filter(Boolean),
        ...(c.envFrom ?? []).map((e: Json) => e.secretRef?.name ?? e.configMapRef?.name),
      ]);
      expect(refs.filter((r) => !earlierHooks.has(r) && !s.external.includes(r))).toEqual([]);
      expect(podSpec(job).serviceAccountName).toBeUndefined();
    }
  });

  it('renders NOTES.txt with how to reach the API and get the admin key', () => {
    const r = render(s.files, ['-notes']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('https://');
    expect(r.stdout).toMatch(/api\/v1\/auth\/bootstrap|Initial admin API key/);
  });
});

describe('chart contents per topology', () => {
  it('bundles PostgreSQL as a StatefulSet with a PVC and Redis, reachable only from certctl pods', () => {
    const ms = rendered.get('default values')!;
    const [pg] = byKind(ms, 'StatefulSet');
    expect(pg.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('8Gi');
    expect(byKind(ms, 'Deployment').map((d) => d.metadata.name)).toContain('certctl-redis');
    const policies = byKind(ms, 'NetworkPolicy').map((p) => p.metadata.name);
    expect(policies).toEqual(expect.arrayContaining(['certctl-server', 'certctl-postgresql', 'certctl-redis']));
    const pgPolicy = byKind(ms, 'NetworkPolicy').find((p) => p.metadata.name === 'certctl-postgresql')!;
    expect(pgPolicy.spec.ingress[0].from[0].podSelector.matchExpressions[0].values).toEqual([
      'server',
      'worker',
      'migrations',
    ]);
    expect(byKind(ms, 'PodDisruptionBudget')).toHaveLength(1);
  });

  it('uses no bundled database or Redis with external ones, and builds the URL from host + secret', () => {
    const ms = rendered.get('examples/values-external-db.yaml')!;
    expect(byKind(ms, 'StatefulSet')).toEqual([]);
    const server = byKind(ms, 'Deployment').find((d) => d.metadata.name === 'certctl-server')!;
    const env = podSpec(server).containers[0].env;
    const url = env.find((e: Json) => e.name === 'CERTCTL_DATABASE_URL');
    expect(url.value).toBe(
      'postgres://certctl:$(CHART_DATABASE_PASSWORD)@postgres.databases.svc.cluster.local:5432/certctl?sslmode=require',
    );
    // $(VAR) expansion only sees variables defined earlier in the list.
    expect(env.findIndex((e: Json) => e.name === 'CHART_DATABASE_PASSWORD')).toBeLessThan(env.indexOf(url));
    expect(env.find((e: Json) => e.name === 'CHART_DATABASE_PASSWORD').valueFrom.secretKeyRef).toEqual({
      name: 'certctl-db',
      key: 'password',
    });
  });

  it('runs the agent DaemonSet with its key directory 0700 on a per-node PVC sub-directory or hostPath', () => {
    const withPvc = byKind(rendered.get('everything enabled')!, 'DaemonSet')[0];
    const mounts = podSpec(withPvc).containers[0].volumeMounts;
    expect(mounts.find((m: Json) => m.name === 'keys')).toMatchObject({ subPathExpr: '$(NODE_NAME)' });
    expect(podSpec(withPvc).volumes.find((v: Json) => v.name === 'keys').persistentVolumeClaim.claimName).toBe(
      'certctl-agent-keys',
    );
    const withHostPath = byKind(rendered.get('examples/values-prod-ha.yaml')!, 'DaemonSet')[0];
    expect(podSpec(withHostPath).volumes.find((v: Json) => v.name === 'keys').hostPath).toEqual({
      path: '/var/lib/certctl/agent',
      type: 'DirectoryOrCreate',
    });
    const env = Object.fromEntries(podSpec(withHostPath).containers[0].env.map((e: Json) => [e.name, e]));
    expect(env.CERTCTL_SERVER_URL.value).toBe('https://certctl.pki.svc:8443');
    expect(env.CERTCTL_AGENT_NAME.value).toBe('$(NODE_NAME)');
    expect(env.CERTCTL_AGENT_BOOTSTRAP_TOKEN.valueFrom.secretKeyRef.name).toBe('certctl-secrets');
  });

  it('adds a worker Deployment with CERTCTL_ROLE=worker, cert-manager TLS, Ingress and monitoring when enabled', () => {
    const ms = rendered.get('everything enabled')!;
    const worker = byKind(ms, 'Deployment').find((d) => d.metadata.name === 'certctl-worker')!;
    expect(podSpec(worker).containers[0].env).toContainEqual({ name: 'CERTCTL_ROLE', value: 'worker' });
    const server = byKind(ms, 'Deployment').find((d) => d.metadata.name === 'certctl-server')!;
    expect(podSpec(server).containers[0].env).toContainEqual({ name: 'CERTCTL_ROLE', value: 'api' });
    const [cert] = byKind(ms, 'Certificate');
    expect(cert.spec.dnsNames).toEqual(
      expect.arrayContaining(['certctl.pki.svc', 'certctl.pki.svc.cluster.local', 'certctl.example.test']),
    );
    const [ingress] = byKind(ms, 'Ingress');
    expect(ingress.spec.rules[0].http.paths[0].backend.service).toEqual({ name: 'certctl', port: { name: 'https' } });
    const [monitor] = byKind(ms, 'ServiceMonitor');
    expect(monitor.spec.endpoints[0]).toMatchObject({
      path: '/api/v1/metrics/prometheus',
      scheme: 'https',
      authorization: { type: 'Bearer', credentials: { name: 'certctl-metrics-key', key: 'api-key' } },
    });
    // The workers are outside the Service: a PodMonitor scrapes them with the same endpoint.
    const [podMonitor] = byKind(ms, 'PodMonitor');
    expect(podMonitor.metadata.name).toBe('certctl-worker');
    expect(podMonitor.spec.selector.matchLabels).toMatchObject({ 'app.kubernetes.io/component': 'worker' });
    expect(podMonitor.spec.podMetricsEndpoints).toEqual([{ port: 'https', ...monitor.spec.endpoints[0] }]);
    const exprs = byKind(ms, 'PrometheusRule')[0]
      .spec.groups[0].rules.map((r: Json) => r.expr)
      .join('\n');
    for (const metric of [
      'certctl_certificates_expiring',
      'certctl_notification_dead_total',
      'certctl_approval_decisions_total',
      'certctl_approval_pending_age_seconds_bucket',
    ]) {
      expect(exprs).toContain(metric);
    }
  });

  it('serves /.well-known/pki over plain HTTP on the api pods when pki.httpPort is set, and only then', () => {
    const ms = rendered.get('everything enabled')!;
    const [config] = byKind(ms, 'ConfigMap').filter((c) => c.metadata.name === 'certctl');
    expect(config.data).toMatchObject({
      CERTCTL_PKI_HTTP_PORT: '8080',
      CERTCTL_PKI_PUBLIC_URL: 'http://pki.example.test',
      CERTCTL_PUBLIC_URL: 'https://certctl.example.test',
    });
    const server = byKind(ms, 'Deployment').find((d) => d.metadata.name === 'certctl-server')!;
    expect(podSpec(server).containers[0].ports).toContainEqual({
      name: 'pki-http',
      containerPort: 8080,
      protocol: 'TCP',
    });
    // Workers start no PKI listener (CERTCTL_ROLE=worker), so they expose no such port.
    const worker = byKind(ms, 'Deployment').find((d) => d.metadata.name === 'certctl-worker')!;
    expect(podSpec(worker).containers[0].ports.map((p: Json) => p.name)).toEqual(['https']);
    const [service] = byKind(ms, 'Service').filter((x) => x.metadata.name === 'certctl');
    expect(service.spec.ports).toContainEqual({
      name: 'pki-http',
      port: 80,
      targetPort: 'pki-http',
      protocol: 'TCP',
      appProtocol: 'http',
    });
    const policy = byKind(ms, 'NetworkPolicy').find((p) => p.metadata.name === 'certctl-server')!;
    // HTTPS from the allowed peers; the PKI port from anywhere (relying parties are any TLS client).
    expect(policy.spec.ingress[0].ports).toEqual([{ port: 'https', protocol: 'TCP' }]);
    expect(policy.spec.ingress[0].from).toEqual([
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } },
    ]);
    expect(policy.spec.ingress[1]).toEqual({ ports: [{ port: 'pki-http', protocol: 'TCP' }] });

    // Off by default: no variable, port, Service port or policy port.
    const plain = rendered.get('default values')!;
    const [defaultConfig] = byKind(plain, 'ConfigMap').filter((c) => c.metadata.name === 'certctl');
    expect(Object.keys(defaultConfig.data).filter((k) => k.startsWith('CERTCTL_PKI_'))).toEqual([]);
    expect(JSON.stringify(plain)).not.toContain('pki-http');
  });

  it('puts the secret values it is given in Secrets and nowhere else', () => {
    const ms = rendered.get('everything enabled')!;
    const known = [
      'known-encryption-key-0123456789abcdef-XYZ',
      'known-bootstrap-token-4711',
      'known-agent-token-0815-abcdef',
      'known-smtp-password-31337',
      'known-db-password-271828',
      'known-redis-password-161803',
    ];
    const inSecrets = JSON.stringify(
      byKind(ms, 'Secret').map((x) =>
        Object.values<string>(x.data).map((b64) => Buffer.from(b64, 'base64').toString('utf8')),
      ),
    );
    const elsewhere = JSON.stringify(ms.filter((x) => x.kind !== 'Secret'));
    for (const value of known) {
      expect({ value, inSecrets: inSecrets.includes(value), elsewhere: elsewhere.includes(value) }).toEqual({
        value,
        inSecrets: true,
        elsewhere: false,
      });
    }
  });

  it('alerts on metrics the server really exports', () => {
    // An alert on a name nobody exports never fires.
    const source = sourceText(join(REPO, 'apps/server/src'));
    const exprs = byKind(rendered.get('everything enabled')!, 'PrometheusRule')[0]
      .spec.groups[0].rules.map((r: Json) => r.expr as string)
      .join('\n');
    const metrics = new Set(
      [...exprs.matchAll(/certctl_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, '')),
    );
    expect(metrics.size).toBeGreaterThanOrEqual(4);
    const missing = [...metrics].filter((m) => !source.includes(`'${m}'`));
    expect(missing).toEqual([]);
  });

  it('sets only CERTCTL_* variables the server or agent reads', () => {
    const source = sourceText(join(REPO, 'apps/server/src')) + sourceText(join(REPO, 'apps/agent/src'));
    const used = new Set<string>();
    for (const ms of rendered.values()) {
      for (const m of ms) {
        if (m.kind === 'ConfigMap') Object.keys(m.data ?? {}).forEach((k) => used.add(k));
        if (m.kind === 'Secret')
          Object.keys(m.data ?? {})
            .filter((k) => k.startsWith('CERTCTL_'))
            .forEach((k) => used.add(k));
        if (WORKLOADS.includes(m.kind))
          containersOf(m).forEach((c) => (c.env ?? []).forEach((e: Json) => used.add(e.name)));
      }
    }
    const unknown = [...used].filter((n) => n.startsWith('CERTCTL_') && !source.includes(n));
    expect(unknown).toEqual([]);
  });
});

describe('chart failure messages', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'certctl-chart-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const renderWith = (yaml: string) => {
    const file = join(dir, `values-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, yaml);
    return render([file]);
  };

  it.each([
    ['no TLS source', 'tls:\n  selfSigned: false\n', "choose the server's TLS source"],
    [
      'two TLS sources',
      'tls:\n  selfSigned: true\n  existingSecret: my-tls\n',
      'choose only one TLS source: tls.existingSecret, tls.certManager.enabled and tls.selfSigned are mutually exclusive',
    ],
    [
      'three TLS sources',
      'tls:\n  existingSecret: my-tls\n  certManager:\n    enabled: true\n    issuerRef:\n      name: ca\n',
      'choose only one TLS source',
    ],
    [
      'cert-manager without issuer',
      'tls:\n  selfSigned: false\n  certManager:\n    enabled: true\n',
      'tls.certManager.issuerRef.name is required',
    ],
    ['no database', 'postgresql:\n  enabled: false\n', 'postgresql.enabled=false needs externalDatabase.url'],
    ['no Redis', 'redis:\n  enabled: false\n', 'redis.enabled=false needs externalRedis.url'],
    [
      'agents with per-pod self-signed TLS',
      'agent:\n  enabled: true\n',
      'agent.enabled needs a server certificate agents can trust',
    ],
    [
      'ServiceMonitor without API key',
      'metrics:\n  serviceMonitor:\n    enabled: true\n',
      'metrics.serviceMonitor.apiKeySecret.name is required',
    ],
    ['PKI port equal to the HTTPS port', 'pki:\n  httpPort: 8443\n', 'pki.httpPort must differ from server.port'],
    [
      'Ingress without hosts',
      'ingress:\n  enabled: true\n',
      'ingress.enabled=true needs at least one entry in ingress.hosts',
    ],
  ])('%s fails the render with a clear message', (_case, yaml, message) => {
    const r = renderWith(yaml);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(message);
    // Helm's format: the message alone, at the template that started the failing call.
    expect(r.stderr).toMatch(
      /^Error: execution error at \(certctl\/templates\/[\w-]+\.yaml:\d+:\d+\): certctl: [^\n]*\n$/,
    );
    expect(r.status).toBe(1);
  });

  it('keeps one generated secret per render across the templates that use it', () => {
    const ms = renderManifests();
    const pg = byKind(ms, 'Secret').find((x) => x.metadata.name === 'certctl-postgresql')!;
    const password = Buffer.from(pg.data.password, 'base64').toString();
    // URL-safe: it is placed inside CERTCTL_DATABASE_URL by $(VAR) expansion.
    expect(password).toMatch(/^[A-Za-z0-9]{32}$/);
    const main = byKind(ms, 'Secret').find((x) => x.metadata.name === 'certctl')!;
    expect(Buffer.from(main.data.CERTCTL_CONFIG_ENCRYPTION_KEY, 'base64').length).toBeGreaterThanOrEqual(32);
    expect(Buffer.from(main.data.CERTCTL_BOOTSTRAP_TOKEN, 'base64').length).toBeGreaterThanOrEqual(16);
  });
});

function sourceText(dir: string): string {
  return readdirSync(dir)
    .map((entry) => {
      const p = join(dir, entry);
      if (statSync(p).isDirectory()) return sourceText(p);
      return p.endsWith('.ts') && !/\.(integration-)?spec\.ts$/.test(p) ? readFileSync(p, 'utf8') : '';
    })
    .join('\n');
}
