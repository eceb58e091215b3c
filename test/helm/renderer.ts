import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadAll } from 'js-yaml';

/**
 * Builds and runs helm/test/render (a Go stand-in for `helm template` on Helm's own template
 * libraries: text/template + sprig + ghodss/yaml, from Debian's golang packages). No helm
 * binary exists here, and no network: the build is offline, in GOPATH mode.
 */

export const REPO = resolve(__dirname, '../..');
export const CHART = join(REPO, 'helm/certctl');
const SOURCE = join(REPO, 'helm/test/render');
const GOCODE = '/usr/share/gocode/src';

/** A parsed YAML/JSON document the tests walk freely. */
export type Json = ReturnType<typeof JSON.parse>;

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: Json;
}

export interface RenderResult {
  status: number;
  stdout: string;
  stderr: string;
}

let binary: string | undefined;

/** The renderer's path, built once per source version (cached in the OS temp dir). */
export function renderer(): string {
  if (binary) return binary;
  const missing = ['go', GOCODE + '/github.com/Masterminds/sprig', GOCODE + '/github.com/ghodss/yaml'].filter((p) =>
    p === 'go' ? spawnSync('go', ['version']).status !== 0 : !existsSync(p),
  );
  if (missing.length > 0) {
    throw new Error(
      `the chart test needs Debian's golang-go, golang-github-masterminds-sprig-dev and ` +
        `golang-github-ghodss-yaml-dev (.ci/run installs them); missing: ${missing.join(', ')}`,
    );
  }
  const goVersion = execFileSync('go', ['version'], { encoding: 'utf8' });
  const hash = createHash('sha256').update(goVersion);
  for (const f of ['main.go', 'go.mod']) hash.update(readFileSync(join(SOURCE, f)));
  const dir = join(tmpdir(), 'certctl-helm-render', hash.digest('hex').slice(0, 16));
  const out = join(dir, 'render');
  if (!existsSync(out)) build(dir, out);
  binary = out;
  return out;
}

function build(dir: string, out: string): void {
  mkdirSync(dir, { recursive: true });
  // A private GOPATH: our package next to links to Debian's sources. The package needs a go.mod
  // for GOPATH mode's "minimal module compatibility" (sprig is imported as .../sprig/v3).
  const gopath = mkdtempSync(join(dir, 'gopath-'));
  try {
    const src = join(gopath, 'src');
    mkdirSync(join(src, 'certctl-render'), { recursive: true });
    for (const entry of readdirSync(GOCODE)) symlinkSync(join(GOCODE, entry), join(src, entry));
    for (const f of ['main.go', 'go.mod']) {
      symlinkSync(join(SOURCE, f), join(src, 'certctl-render', f));
    }
    const tmpOut = `${out}.${process.pid}.tmp`;
    execFileSync('go', ['build', '-o', tmpOut, '.'], {
      cwd: join(src, 'certctl-render'),
      env: {
        PATH: process.env.PATH,
        HOME: dir,
        GO111MODULE: 'off',
        GOPATH: gopath,
        GOCACHE: join(tmpdir(), 'certctl-helm-render', 'gocache'),
        GOFLAGS: '',
        CGO_ENABLED: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Atomic: parallel test files may build at once; the last rename wins, both are equal.
    renameSync(tmpOut, out);
  } finally {
    rmSync(gopath, { recursive: true, force: true });
  }
}

/** Renders the chart with these values files (later ones win), like `helm template`. */
export function render(valueFiles: string[] = [], extraArgs: string[] = []): RenderResult {
  const args = ['-chart', CHART, '-name', 'certctl', '-namespace', 'pki'];
  for (const f of valueFiles) args.push('-f', f);
  const r = spawnSync(renderer(), [...args, ...extraArgs], { encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Renders and parses; throws with the renderer's message when the render fails. */
export function renderManifests(valueFiles: string[] = []): Manifest[] {
  const r = render(valueFiles);
  if (r.status !== 0) throw new Error(`render failed (${r.status}): ${r.stderr}`);
  return (loadAll(r.stdout) as (Manifest | null)[]).filter((d): d is Manifest => d !== null);
}

/** The values Helm would hand to the templates (chart defaults coalesced with the files). */
export function coalescedValues(valueFiles: string[] = []): Record<string, unknown> {
  const r = render(valueFiles, ['-dump-values']);
  if (r.status !== 0) throw new Error(`render failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** Per manifest, its problems against the Kubernetes (and CRD) schemas of kubernetes-models. */
export function kubernetesSchemaErrors(manifests: Manifest[]): string[][] {
  // kubernetes-models ships ESM only: validate in a child node process.
  const r = spawnSync(process.execPath, [join(__dirname, 'validate-manifests.mjs')], {
    input: JSON.stringify(manifests),
    encoding: 'utf8',
    cwd: REPO,
  });
  if (r.status !== 0) throw new Error(`validate-manifests.mjs failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as string[][];
}
