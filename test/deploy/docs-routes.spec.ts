import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TargetType } from '@certctl/domain';
import { checkConfig, TARGET_CONFIGS } from '@certctl/connectors';
import { readRepoFile, repoRoot } from './dockerfile';

/**
 * The quick start and the runbooks tell operators which API calls to make. Each call they
 * name (`api POST /api/v1/...`, `GET /ready`, ...) must be a route of docs/openapi.json with
 * that method, and the quick start's NGINX target must be a configuration the server
 * accepts, at the paths docker-compose.yml shares with nginx.
 */

const DOCS = [
  'docs/getting-started/quickstart.md',
  'docs/architecture.md',
  ...readdirSync(join(repoRoot, 'docs/operator/runbooks'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/operator/runbooks/${f}`),
];

const openapi = JSON.parse(readRepoFile('docs/openapi.json')) as { paths: Record<string, Record<string, unknown>> };
const routes = Object.entries(openapi.paths).map(([path, ops]) => ({
  // `{id}` in the document matches any one segment of the docs' concrete paths and placeholders.
  pattern: new RegExp(`^${path.replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`),
  methods: Object.keys(ops).map((m) => m.toUpperCase()),
}));

/** `METHOD /path` mentions, the path cut at whitespace, quotes, backticks or a query string. */
function calls(text: string): { method: string; path: string }[] {
  return [...text.matchAll(/\b(GET|POST|PUT|DELETE|PATCH)\s+["'`]?(\/[^\s"'`?)]+)/g)].map((m) => ({
    method: m[1],
    path: m[2].replace(/[.,;:]$/, ''),
  }));
}

describe.each(DOCS)('%s', (doc) => {
  const text = readRepoFile(doc);

  test('every API call it names is a route with that method in docs/openapi.json', () => {
    const named = calls(text);
    if (doc.includes('/runbooks/') || doc.includes('quickstart')) expect(named.length).toBeGreaterThan(2);
    const unknown = named.filter(
      ({ method, path }) => !routes.some((r) => r.pattern.test(path) && r.methods.includes(method)),
    );
    expect(unknown).toEqual([]);
  });
});

test('the reader is strict: a made-up route or a wrong method is reported', () => {
  const bad = calls('api POST /api/v1/certificates/x/teleport and GET /api/v1/certificates/{id}/renew');
  const unknown = bad.filter(
    ({ method, path }) => !routes.some((r) => r.pattern.test(path) && r.methods.includes(method)),
  );
  expect(unknown).toEqual([
    { method: 'POST', path: '/api/v1/certificates/x/teleport' },
    { method: 'GET', path: '/api/v1/certificates/{id}/renew' },
  ]);
});

test("the quick start's NGINX target is accepted and writes where nginx reads", () => {
  const text = readRepoFile('docs/getting-started/quickstart.md');
  const field = (name: string): string => {
    const m = new RegExp(`${name}: ("[^"]*"|\\[[^\\]]*\\])`).exec(text);
    if (!m) throw new Error(`quickstart.md: no ${name}`);
    return JSON.parse(m[1]) as string;
  };
  const config = {
    cert_path: field('cert_path'),
    key_path: field('key_path'),
    validate_command: field('validate_command'),
    reload_command: field('reload_command'),
  };
  expect(checkConfig(TARGET_CONFIGS[TargetType.NGINX], config)).toMatchObject({ ok: true });
  // /srv/certctl is the agent's mount of the volume nginx reads as /etc/nginx/certs (compose.spec.ts).
  expect(config.cert_path).toBe('/srv/certctl/tls.crt');
  expect(config.key_path).toBe('/srv/certctl/tls.key');
});
