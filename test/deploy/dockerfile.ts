import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * A small Dockerfile reader for the deployment tests: enough of the format (comments,
 * line continuations, JSON and shell forms, stages) to check the invariants our images
 * rely on without a Docker engine.
 */

export interface Instruction {
  /** Upper-cased keyword: FROM, RUN, COPY, CMD, ... */
  keyword: string;
  /** Everything after the keyword, continuations joined with a space. */
  args: string;
  line: number;
}

export interface Stage {
  /** `AS name`, or the stage index as a string when unnamed. */
  name: string;
  /** The FROM image or the name of an earlier stage. */
  base: string;
  instructions: Instruction[];
}

export function parseDockerfile(text: string): Stage[] {
  const instructions: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    // Comment lines (and the parser directive) do not end a continuation.
    if (/^\s*#/.test(line)) return;
    if (!pending && line.trim() === '') return;
    const continued = /\\\s*$/.test(line);
    const body = continued ? line.replace(/\\\s*$/, '') : line;
    pending = pending
      ? { text: `${pending.text} ${body.trim()}`, line: pending.line }
      : { text: body.trim(), line: i + 1 };
    if (!continued) {
      const m = /^(\S+)\s*(.*)$/.exec(pending.text);
      if (m) instructions.push({ keyword: m[1].toUpperCase(), args: m[2].trim(), line: pending.line });
      pending = undefined;
    }
  });

  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`line ${ins.line}: cannot read FROM ${ins.args}`);
      stages.push({ name: m[2] ?? String(stages.length), base: m[1], instructions: [] });
    } else {
      if (stages.length === 0) throw new Error(`line ${ins.line}: ${ins.keyword} before FROM`);
      stages[stages.length - 1].instructions.push(ins);
    }
  }
  return stages;
}

/** The stage and the stages it is built FROM, nearest first. */
export function lineage(stages: Stage[], name: string): Stage[] {
  const out: Stage[] = [];
  let current = stages.find((s) => s.name === name);
  while (current) {
    out.push(current);
    const base = current.base;
    current = stages.find((s) => s.name === base);
  }
  return out;
}

/** The last value of an instruction a stage sets or inherits (USER, CMD, ENTRYPOINT, HEALTHCHECK). */
export function effective(stages: Stage[], name: string, keyword: string): Instruction | undefined {
  for (const stage of lineage(stages, name)) {
    const hit = stage.instructions.filter((i) => i.keyword === keyword).pop();
    if (hit) return hit;
  }
  return undefined;
}

/** The exec (JSON array) form of CMD/ENTRYPOINT/HEALTHCHECK CMD; throws on the shell form. */
export function execForm(args: string): string[] {
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) {
    throw new Error(`not an exec-form array: ${args}`);
  }
  return parsed;
}

export const repoRoot = join(__dirname, '..', '..');

export function readRepoFile(path: string): string {
  return readFileSync(join(repoRoot, path), 'utf8');
}

/**
 * Where `npm run build` puts an app's entry point: the Nest CLI project's outDir (from its
 * tsconfig.app.json, relative to the app root) + its sourceRoot (kept because rootDir is the
 * repository root) + entryFile.js. Throws when the app is not a Nest CLI application.
 */
export function builtEntryPoint(app: string): string {
  const nest = JSON.parse(readRepoFile('nest-cli.json')) as {
    projects: Record<
      string,
      { type: string; root: string; entryFile: string; sourceRoot: string; compilerOptions?: { tsConfigPath?: string } }
    >;
  };
  const project = nest.projects[app];
  if (!project || project.type !== 'application') throw new Error(`nest-cli.json has no application "${app}"`);
  const tsconfigPath = project.compilerOptions?.tsConfigPath ?? `${project.root}/tsconfig.app.json`;
  const tsconfig = JSON.parse(readRepoFile(tsconfigPath)) as { compilerOptions: { outDir: string; rootDir: string } };
  const configDir = join(repoRoot, tsconfigPath, '..');
  const outDir = join(configDir, tsconfig.compilerOptions.outDir);
  const rootDir = join(configDir, tsconfig.compilerOptions.rootDir);
  if (rootDir !== repoRoot) throw new Error(`${tsconfigPath}: rootDir is not the repository root`);
  return join(outDir, project.sourceRoot, `${project.entryFile}.js`).slice(repoRoot.length + 1);
}

/** The apps `npm run build` compiles (`nest build <app>` in the build script). */
export function appsBuilt(): string[] {
  const pkg = JSON.parse(readRepoFile('package.json')) as { scripts: Record<string, string> };
  return [...pkg.scripts.build.matchAll(/nest build (\S+)/g)].map((m) => m[1]);
}

/**
 * .dockerignore as Docker reads it: patterns relative to the context root, `*` and `?`
 * within one path segment, `**` across segments, a directory's pattern covers what is in it,
 * `!` re-includes, and the last matching line wins.
 */
export function dockerignoreMatcher(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = (negate ? l.slice(1) : l).replace(/^\/+/, '').replace(/\/+$/, '');
      const source = pattern
        .split('/')
        .map((seg) =>
          seg === '**'
            ? '.*'
            : seg
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replace(/\*/g, '[^/]*')
                .replace(/\?/g, '[^/]'),
        )
        .join('/')
        .replace(/\.\*\//g, '(?:.*/)?');
      return { negate, re: new RegExp(`^${source}$`) };
    });
  return (path: string) => {
    const parts = path.split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let ignored = false;
    for (const rule of rules) {
      if (prefixes.some((p) => rule.re.test(p))) ignored = !rule.negate;
    }
    return ignored;
  };
}

/** The files `tsc` compiles for an app (its tsconfig.app.json's include minus exclude), repo-relative. */
export function appBuildFiles(app: string): string[] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ts = require('typescript') as typeof import('typescript');
  const configPath = join(repoRoot, 'apps', app, 'tsconfig.app.json');
  const read = ts.readConfigFile(configPath, (p) => ts.sys.readFile(p));
  if (read.error) throw new Error(`${configPath}: ${ts.flattenDiagnosticMessageText(read.error.messageText, '\n')}`);
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, join(configPath, '..'));
  return parsed.fileNames.map((f) => relative(repoRoot, f));
}

/** Relative module specifiers a TypeScript file imports or re-exports (static and dynamic). */
export function relativeImports(source: string): string[] {
  const specs = [
    ...source.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"](\.[^'"]*)['"]/gm),
  ];
  return specs.map((m) => m[1]);
}

/** The repo-relative file an import resolves to (TypeScript's candidates), or undefined. */
export function resolveImport(fromFile: string, spec: string): string | undefined {
  const base = join(repoRoot, fromFile, '..', spec);
  const candidates = [base, `${base}.ts`, `${base}.d.ts`, base.replace(/\.js$/, '.ts'), join(base, 'index.ts')];
  const hit = candidates.find((c) => existsSync(c) && statSync(c).isFile());
  return hit ? relative(repoRoot, hit) : undefined;
}
