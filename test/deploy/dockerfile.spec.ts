import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  appBuildFiles,
  appsBuilt,
  builtEntryPoint,
  dockerignoreMatcher,
  effective,
  execForm,
  lineage,
  parseDockerfile,
  readRepoFile,
  relativeImports,
  repoRoot,
  resolveImport,
  type Stage,
} from './dockerfile';

/**
 * No Docker engine runs in CI, so the Dockerfile's promises are checked statically here:
 * base images, the build/prune sequence, a non-root user in every runtime target, no baked
 * secrets, and entry points that `npm run build` really produces. When an app moves, a stage
 * stops pruning or a target loses its user, this fails instead of the image silently rotting.
 */

const stages = parseDockerfile(readRepoFile('Dockerfile'));
const stage = (name: string): Stage => {
  const s = stages.find((x) => x.name === name);
  if (!s) throw new Error(`Dockerfile has no stage "${name}"`);
  return s;
};
const ignored = dockerignoreMatcher(readRepoFile('.dockerignore'));
/** What the build stage COPYs from the context (files and directories). */
const buildSources = (): string[] =>
  stage('build')
    .instructions.filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))
    .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
/** A repo file the image build can see: under something the build stage copies, not ignored. */
const inBuildContext = (path: string): boolean =>
  buildSources().some((src) => path === src || path.startsWith(`${src}/`)) && !ignored(path);
const runs = (s: Stage): string[] => s.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);

/** The images someone builds: `--target agent`, `--target mcp`, and the default (last) stage. */
const TARGETS = { server: 'server', agent: 'agent', mcp: 'mcp' } as const;

describe('Dockerfile', () => {
  test('the parser reads continuations and stages (the checks below rely on it)', () => {
    const parsed = parseDockerfile('# c\nFROM a AS one\nRUN x \\\n  # note\n  && y\nFROM one\nUSER 1\n');
    expect(parsed).toEqual([
      { name: 'one', base: 'a', instructions: [{ keyword: 'RUN', args: 'x && y', line: 3 }] },
      { name: '1', base: 'one', instructions: [{ keyword: 'USER', args: '1', line: 7 }] },
    ]);
  });

  test('every stage is built from a stage above or from node 20 slim (Debian bookworm)', () => {
    const external = stages.filter((s) => !stages.some((o) => o.name === s.base)).map((s) => s.base);
    expect(external.length).toBeGreaterThan(0);
    for (const image of external) expect(image).toMatch(/^node:20(-bookworm)?-slim$/);
  });

  test('the build stage installs, builds every app, then prunes dev dependencies', () => {
    const build = runs(stage('build')).join(' && ');
    const order = ['npm install', 'npm run build', 'npm prune --omit=dev'].map((step) => build.indexOf(step));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  test('the runtime copies node_modules from the pruned build stage, not from the build context', () => {
    const copies = stage('runtime').instructions.filter((i) => i.keyword === 'COPY');
    const modules = copies.find((c) => /\snode_modules\s/.test(` ${c.args} `) || c.args.includes('/node_modules'));
    expect(modules?.args).toMatch(/^--from=build\s/);
    for (const c of copies) expect(c.args).toMatch(/^--from=build\s/);
  });

  test("the .dockerignore reader follows Docker's rules (the checks below rely on it)", () => {
    const ignored = dockerignoreMatcher('docs/*\n!docs/openapi.json\n**/.env\ntest\n**/*.log\n');
    expect(['docs/a.md', 'a/b/.env', '.env', 'test/x/y.ts', 'x/y.log'].filter(ignored)).toHaveLength(5);
    expect(['docs/openapi.json', 'apps/x.ts', 'testing/x.ts', 'libs/.envoy.ts'].filter(ignored)).toEqual([]);
  });

  test('what the build stage copies exists and is not hidden by .dockerignore', () => {
    const sources = buildSources();
    expect(sources).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'apps', 'libs']));
    for (const src of sources) {
      expect({ src, exists: existsSync(join(repoRoot, src)) }).toEqual({ src, exists: true });
      expect({ src, ignored: ignored(src) }).toEqual({ src, ignored: false });
    }
    // Local state and secrets never enter the build context.
    for (const p of ['node_modules/x', 'dist/x', 'data/config-encryption.key', '.env', 'apps/x/.env', '.git/config']) {
      expect({ p, ignored: ignored(p) }).toEqual({ p, ignored: true });
    }
  });

  test.each(appsBuilt())(
    'app %s compiles only files the build stage copies, and they import nothing outside it',
    (app) => {
      const files = appBuildFiles(app);
      expect(files).toContain(`apps/${app}/src/main.ts`);
      const outside = files.filter((f) => !inBuildContext(f));
      const imports = files.flatMap((f) =>
        relativeImports(readRepoFile(f)).map((spec) => ({ from: f, spec, to: resolveImport(f, spec) })),
      );
      const unresolved = imports.filter((i) => i.to === undefined);
      const escaping = imports.filter((i) => i.to !== undefined && !inBuildContext(i.to));
      expect({ outside, unresolved, escaping }).toEqual({ outside: [], unresolved: [], escaping: [] });
    },
  );

  test.each(appsBuilt())('app %s compiles no test code into the image', (app) => {
    const testCode = appBuildFiles(app).filter((f) =>
      /(\.spec|\.integration-spec|\.e2e-spec|\.testing|\.bench)\.ts$|\/testing\//.test(f),
    );
    expect(testCode).toEqual([]);
  });

  test('each tsconfig the build extends is copied into the build stage', () => {
    const copied = stage('build')
      .instructions.filter((i) => i.keyword === 'COPY')
      .flatMap((i) => i.args.split(/\s+/));
    for (const app of appsBuilt()) {
      const tsconfig = JSON.parse(readRepoFile(`apps/${app}/tsconfig.app.json`)) as { extends?: string };
      if (tsconfig.extends) expect(copied).toContain(join(`apps/${app}`, tsconfig.extends));
    }
  });

  test.each(Object.keys(TARGETS))('target %s runs as the unprivileged user 10001 under tini', (target) => {
    const user = effective(stages, target, 'USER');
    expect(user?.args).toMatch(/^10001(:10001)?$/);
    // Nothing after USER switches back to root.
    for (const s of lineage(stages, target)) {
      const users = s.instructions.filter((i) => i.keyword === 'USER').map((i) => i.args);
      expect(users.filter((u) => /^(0|root)(:|$)/.test(u))).toEqual([]);
    }
    expect(execForm(effective(stages, target, 'ENTRYPOINT')!.args)).toEqual(['/usr/bin/tini', '--']);
  });

  test.each(Object.entries(TARGETS))('target %s starts the entry point `npm run build` produces', (target, app) => {
    expect(appsBuilt()).toContain(app);
    const entry = builtEntryPoint(app);
    expect(entry).toBe(`dist/apps/${app}/apps/${app}/src/main.js`);
    expect(existsSync(join(repoRoot, 'apps', app, 'src', 'main.ts'))).toBe(true);
    expect(execForm(effective(stages, target, 'CMD')!.args)).toEqual(['node', entry]);
    expect(effective(stages, target, 'WORKDIR')?.args).toBe('/app');
  });

  test('the default target (last stage) is the server, with a HEALTHCHECK on /health; agent and mcp have none', () => {
    expect(stages[stages.length - 1].name).toBe('server');
    const hc = effective(stages, 'server', 'HEALTHCHECK')!.args;
    const cmd = execForm(hc.slice(hc.indexOf('CMD') + 3).trim());
    expect(cmd[0]).toBe('node');
    expect(cmd.join(' ')).toContain("path:'/health'");
    expect(hc).toMatch(/--start-period=\d+s/);
    for (const t of ['agent', 'mcp']) expect(effective(stages, t, 'HEALTHCHECK')?.args).toBe('NONE');
    expect(stage('server').instructions.some((i) => i.keyword === 'EXPOSE' && i.args === '8443')).toBe(true);
  });

  test('no secret is baked in: no ENV/ARG names a key, token or password with a value', () => {
    const secretName = /(KEY|TOKEN|PASSWORD|SECRET|PASSPHRASE|DATABASE_URL)/i;
    const assignments = stages
      .flatMap((s) => s.instructions)
      .filter((i) => i.keyword === 'ENV' || i.keyword === 'ARG')
      .flatMap((i) => [...i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=/g)].map((m) => m[1]));
    expect(assignments.length).toBeGreaterThan(0);
    expect(assignments.filter((n) => secretName.test(n))).toEqual([]);
    const copied = stages.flatMap((s) => s.instructions.filter((i) => ['COPY', 'ADD'].includes(i.keyword)));
    for (const c of copied) expect(c.args).not.toMatch(/\.env|\.pem|\.key|data\//);
  });
});
