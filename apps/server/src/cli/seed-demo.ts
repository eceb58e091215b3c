import type { AddressInfo } from 'node:net';
import { DataSource } from 'typeorm';
import { IdPrefix, newId } from '@certctl/domain';
import { displayPrefix, generateApiKey, hashApiKey } from '../auth/api-key';
import { AuthRepository } from '../auth/auth.repository';
import { ConfigError, loadConfig } from '../config/config.schema';
import { ensureDatabaseExists, runMigrationsLocked } from '../database/database-bootstrap';
import { createServerApp } from '../server-app';

/**
 * `npm run seed:demo`: a realistic demo inventory for the quick start, created through the
 * public REST API (so every row passes the same validation and audit as a user's), with a
 * temporary admin key that is revoked at the end. Safe to run twice: existing ids are kept.
 *
 * Issuance is not simulated through a CA here: certificate states and expiry dates are
 * set directly afterwards so the dashboard shows a fleet in several states.
 */
type Body = Record<string, unknown>;

const DAY = 86_400_000;

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  await ensureDatabaseExists(config.database.url);
  await runMigrationsLocked(config.database.url);
  const app = await createServerApp(config, undefined, { logger: false, swagger: false });
  await app.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/api/v1`;
  const auth = app.get(AuthRepository);
  const ds = app.get(DataSource);
  const keyId = newId(IdPrefix.ApiKey);
  const key = generateApiKey();
  await auth.transaction((m) =>
    auth.insertKeyWithRoles(
      m,
      {
        id: keyId,
        name: 'demo-seed',
        actorId: 'demo-seed',
        actorType: 'System',
        keyHash: hashApiKey(key),
        keyPrefix: displayPrefix(key),
        createdBy: 'demo-seed',
        expiresAt: new Date(Date.now() + 3_600_000),
      },
      ['role-admin'],
      'demo-seed',
    ),
  );

  let created = 0;
  let kept = 0;
  const post = async (path: string, body: Body): Promise<Body> => {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await res.json().catch(() => ({}))) as Body;
    if (res.status === 409) {
      kept++;
      return json;
    }
    if (!res.ok)
      throw new Error(`POST ${path} ${JSON.stringify(body.id ?? '')}: ${res.status} ${String(json.message)}`);
    created++;
    return json;
  };

  try {
    for (const [id, name, description] of [
      ['team-platform', 'Platform', 'Shared ingress, load balancers and the internal PKI'],
      ['team-payments', 'Payments', 'Card processing and the partner APIs'],
      ['team-identity', 'Identity', 'SSO, directory and device enrollment'],
    ]) {
      await post('/teams', { id, name, description });
    }
    for (const [id, name, email, team] of [
      ['o-alice', 'Alice Martin', 'alice@example.com', 'team-platform'],
      ['o-bob', 'Bob Okafor', 'bob@example.com', 'team-payments'],
      ['o-carla', 'Carla Nunes', 'carla@example.com', 'team-payments'],
      ['o-dmitri', 'Dmitri Ivanov', 'dmitri@example.com', 'team-identity'],
      ['o-erin', 'Erin Walsh', 'erin@example.com', 'team-platform'],
    ]) {
      await post('/owners', { id, name, email, team_id: team });
    }
    await post('/issuers', {
      id: 'iss-local',
      name: 'Internal Local CA',
      type: 'LocalCA',
      config: { ca_common_name: 'Example Internal Issuing CA', key_algorithm: 'ECDSA-P256' },
    });
    await post('/issuers', {
      id: 'iss-letsencrypt-staging',
      name: "Let's Encrypt (staging)",
      type: 'ACME',
      config: { directory_url: 'https://acme-staging-v02.api.letsencrypt.org/directory', email: 'pki@example.com' },
    });
    const agents: Record<string, string> = {};
    for (const [id, name, hostname] of [
      ['ag-web-prod-1', 'web-prod-1', 'web-prod-1.example.internal'],
      ['ag-lb-prod-1', 'lb-prod-1', 'lb-prod-1.example.internal'],
      ['ag-mail-1', 'mail-1', 'mail-1.example.internal'],
    ]) {
      const a = await post('/agents', { id, name, hostname });
      agents[id] = typeof a.id === 'string' ? a.id : id;
    }
    for (const [id, name, type, agent, config] of [
      [
        't-web-nginx',
        'web-prod-1 nginx',
        'NGINX',
        'ag-web-prod-1',
        {
          cert_path: '/etc/nginx/tls/site.crt',
          key_path: '/etc/nginx/tls/site.key',
          reload_command: ['nginx', '-s', 'reload'],
        },
      ],
      [
        't-lb-haproxy',
        'lb-prod-1 haproxy',
        'HAProxy',
        'ag-lb-prod-1',
        { pem_path: '/etc/haproxy/certs/site.pem', reload_command: ['systemctl', 'reload', 'haproxy'] },
      ],
      [
        't-web-apache',
        'web-prod-1 apache',
        'Apache',
        'ag-web-prod-1',
        { cert_path: '/etc/httpd/tls/app.crt', key_path: '/etc/httpd/tls/app.key' },
      ],
      [
        't-mail-postfix',
        'mail-1 postfix',
        'Postfix',
        'ag-mail-1',
        { cert_path: '/etc/postfix/tls/mail.crt', key_path: '/etc/postfix/tls/mail.key' },
      ],
    ] as const) {
      await post('/targets', { id, name, type, agent_id: agent, config });
    }
    await post('/profiles', {
      id: 'prof-tls-server',
      name: 'TLS server',
      description: 'Public and internal HTTPS endpoints',
      allowed_key_algorithms: [
        { algorithm: 'ECDSA', min_size: 256 },
        { algorithm: 'RSA', min_size: 2048 },
      ],
      max_ttl_seconds: 397 * 86_400,
      allowed_ekus: ['serverAuth'],
      san_rules: { permitted_dns_patterns: ['*.example.com', 'example.com', '*.example.internal'], allow_ip: true },
    });
    await post('/profiles', {
      id: 'prof-short-lived',
      name: 'Short-lived service identity',
      allowed_key_algorithms: [{ algorithm: 'ECDSA', min_size: 256 }],
      max_ttl_seconds: 86_400,
      allowed_ekus: ['serverAuth', 'clientAuth'],
      san_rules: { permitted_dns_patterns: ['*.svc.example.internal'] },
    });
    await post('/renewal-policies', { id: 'rp-standard', name: 'Standard (30 days)', renewal_days_before: 30 });
    await post('/renewal-policies', {
      id: 'rp-critical',
      name: 'Critical (45 days, extra alerts)',
      renewal_days_before: 45,
      alert_thresholds_days: [60, 30, 14, 7, 3, 1, 0],
    });
    await post('/policies', {
      id: 'pol-owner-required',
      name: 'Every certificate has an owner',
      type: 'OwnerRequired',
      severity: 'warning',
    });
    await post('/policies', {
      id: 'pol-no-wildcards-prod',
      name: 'No wildcard certificates',
      type: 'ForbiddenWildcard',
      severity: 'critical',
    });

    const apps = ['api', 'checkout', 'billing', 'login', 'sso', 'partners', 'status', 'docs', 'grafana', 'vault'];
    const envs = ['production', 'staging', 'development'];
    const owners = ['o-alice', 'o-bob', 'o-carla', 'o-dmitri', 'o-erin', null];
    const teamOf: Record<string, string> = {
      'o-alice': 'team-platform',
      'o-erin': 'team-platform',
      'o-bob': 'team-payments',
      'o-carla': 'team-payments',
      'o-dmitri': 'team-identity',
    };
    const targets = ['t-web-nginx', 't-lb-haproxy', 't-web-apache', 't-mail-postfix'];
    const states: { id: string; status: string; days: number | null }[] = [];
    for (let i = 0; i < 30; i++) {
      const appName = apps[i % apps.length];
      const env = envs[Math.floor(i / apps.length)];
      const owner = owners[i % owners.length] ?? null;
      const host = env === 'production' ? `${appName}.example.com` : `${appName}.${env}.example.com`;
      const id = `mc-${appName}-${env}`;
      await post('/certificates', {
        id,
        name: `${appName} (${env})`,
        common_name: host,
        sans: [host, ...(i % 7 === 0 ? [`www.${host}`] : [])],
        environment: env,
        owner_id: owner,
        team_id: owner ? teamOf[owner] : null,
        issuer_id: env === 'production' && i % 3 === 0 ? 'iss-letsencrypt-staging' : 'iss-local',
        profile_id: 'prof-tls-server',
        renewal_policy_id: appName === 'checkout' || appName === 'login' ? 'rp-critical' : 'rp-standard',
        target_ids: [targets[i % targets.length]],
        tags: { app: appName, tier: i % 2 ? 'backend' : 'frontend' },
      });
      // A fleet in several states: mostly healthy, some expiring, a few expired/failed/pending.
      const pick = i % 10;
      if (pick <= 4) states.push({ id, status: 'Active', days: 60 + i * 9 });
      else if (pick <= 6) states.push({ id, status: 'Expiring', days: 3 + i });
      else if (pick === 7) states.push({ id, status: 'Expired', days: -5 - i });
      else if (pick === 8) states.push({ id, status: 'Failed', days: 20 });
      else states.push({ id, status: 'Pending', days: null });
    }
    for (const s of states) {
      await ds.query(
        `UPDATE managed_certificates SET status = $2, expires_at = $3 WHERE id = $1 AND archived_at IS NULL`,
        [s.id, s.status, s.days === null ? null : new Date(Date.now() + s.days * DAY)],
      );
    }
    process.stdout.write(`demo inventory: ${created} created, ${kept} already present\n`);
  } finally {
    await ds.query(`UPDATE api_keys SET revoked_at = now() WHERE id = $1`, [keyId]);
    await app.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`seed:demo: ${e instanceof ConfigError || e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
