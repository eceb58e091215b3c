#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { CERTCTL_VERSION as CLI_VERSION, createCertctlClient, unwrap, type CertctlClient } from '@certctl/api-client';
import { importPemFiles } from './import';
import { estCommand } from './est-command';
import { describeError, FORMATS, print, type GlobalOptions, type Result } from './output';

const CERT_COLUMNS = ['id', 'name', 'common_name', 'status', 'environment', 'expires_at'];
const AGENT_COLUMNS = ['id', 'name', 'hostname', 'status', 'version', 'last_heartbeat_at'];
const JOB_COLUMNS = ['id', 'type', 'status', 'certificate_id', 'agent_id', 'attempts', 'created_at'];
const APPROVAL_COLUMNS = ['id', 'kind', 'state', 'certificate_id', 'requested_by', 'created_at'];

function client(g: GlobalOptions): CertctlClient {
  if (!g.server) throw new Error('no server: give --server or set CERTCTL_SERVER_URL');
  if (!g.apiKey) throw new Error('no API key: give --api-key or set CERTCTL_API_KEY');
  let caBundlePem: string | undefined;
  if (g.caBundle) {
    try {
      caBundlePem = readFileSync(g.caBundle, 'utf8');
    } catch (e) {
      throw new Error(`cannot read --ca-bundle ${g.caBundle}: ${(e as Error).message}`, { cause: e });
    }
  }
  return createCertctlClient({
    baseUrl: g.server,
    apiKey: g.apiKey,
    caBundlePem,
    userAgent: `certctl-cli/${CLI_VERSION}`,
  });
}

/**
 * Wraps a command body: builds the client from the global options, prints the result in the
 * chosen format, and turns any failure into a message on stderr and exit code 1.
 */
function action<A extends unknown[]>(
  body: (c: CertctlClient, g: GlobalOptions, ...args: A) => Promise<Result | undefined>,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const g = cmd.optsWithGlobals<GlobalOptions>();
    let c: CertctlClient | undefined;
    try {
      c = client(g);
      const r = await body(c, g, ...(args.slice(0, -1) as A));
      if (r) print(g, r);
    } catch (e) {
      process.stderr.write(describeError(e) + '\n');
      process.exitCode = 1;
    } finally {
      await c?.close();
    }
  };
}

const int = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`not a positive integer: ${v}`);
  return n;
};
const list = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
const page = (rows: Record<string, unknown>[], columns: string[], json: unknown): Result => ({ rows, columns, json });

export function buildProgram(): Command {
  const program = new Command('certctl-cli')
    .description('Command-line client of the certctl REST API')
    .addOption(
      new Option('--server <url>', 'server base URL, e.g. https://certctl.example.com:8443').env('CERTCTL_SERVER_URL'),
    )
    .addOption(new Option('--api-key <key>', 'API key (sent as a bearer token)').env('CERTCTL_API_KEY'))
    .addOption(
      new Option('--ca-bundle <file>', "PEM CA certificate(s) to trust for the server's TLS").env(
        'CERTCTL_SERVER_CA_BUNDLE_PATH',
      ),
    )
    .addOption(new Option('--format <format>', 'output format').choices(FORMATS).default('table'))
    .showHelpAfterError();

  const certs = program.command('certs').description('managed certificates');
  certs
    .command('list')
    .description('list certificates')
    .option('--status <status>', 'only this status')
    .option('--environment <env>', 'only this environment')
    .option('-q, --query <text>', 'search text')
    .option('--per-page <n>', 'page size', int, 50)
    .option('--page <n>', 'page number', int, 1)
    .action(
      action(
        async (c, _g, o: { status?: string; environment?: string; query?: string; perPage: number; page: number }) => {
          const r = await unwrap(
            c.GET('/api/v1/certificates', {
              params: {
                query: { status: o.status, environment: o.environment, q: o.query, per_page: o.perPage, page: o.page },
              },
            }),
          );
          return page(r.data, CERT_COLUMNS, r);
        },
      ),
    );
  certs
    .command('get <id>')
    .description('show one certificate')
    .action(
      action(async (c, _g, id: string) => ({
        record: await unwrap(c.GET('/api/v1/certificates/{id}', { params: { path: { id } } })),
      })),
    );
  certs
    .command('renew <id>')
    .description('queue a renewal job for a certificate')
    .action(
      action(async (c, _g, id: string) => ({
        record: await unwrap(c.POST('/api/v1/certificates/{id}/renew', { params: { path: { id } } })),
      })),
    );
  const reasons = new Option('--reason <reason>', 'RFC 5280 reason, e.g. keyCompromise, superseded').default(
    'unspecified',
  );
  certs
    .command('revoke <id>')
    .description('revoke a certificate')
    .addOption(reasons)
    .action(
      action(async (c, _g, id: string, o: { reason: string }) => ({
        record: await unwrap(
          c.POST('/api/v1/certificates/{id}/revoke', {
            params: { path: { id } },
            body: { reason: o.reason as 'unspecified' },
          }),
        ),
      })),
    );
  certs
    .command('bulk-revoke')
    .description('revoke every certificate matching the selectors (at least one is required)')
    .addOption(reasons)
    .option('--ids <ids>', 'comma-separated certificate ids', list)
    .option('--profile <id>', 'certificates of this profile')
    .option('--owner <id>', 'certificates of this owner')
    .option('--agent <id>', 'certificates managed by this agent')
    .option('--issuer <id>', 'certificates issued by this issuer')
    .action(
      action(
        async (
          c,
          _g,
          o: { reason: string; ids?: string[]; profile?: string; owner?: string; agent?: string; issuer?: string },
        ) => {
          // An empty selector would mean "everything": refuse it here rather than trust a default.
          if (!o.ids?.length && !o.profile && !o.owner && !o.agent && !o.issuer) {
            throw new Error('bulk-revoke needs at least one of --ids, --profile, --owner, --agent, --issuer');
          }
          const r = await unwrap(
            c.POST('/api/v1/certificates/bulk-revoke', {
              body: {
                reason: o.reason as 'unspecified',
                certificate_ids: o.ids,
                profile_id: o.profile,
                owner_id: o.owner,
                agent_id: o.agent,
                issuer_id: o.issuer,
              },
            }),
          );
          return { record: r };
        },
      ),
    );

  const agents = program.command('agents').description('agents');
  agents
    .command('list')
    .description('list agents')
    .option('--status <status>', 'only this status')
    .option('--per-page <n>', 'page size', int, 50)
    .option('--page <n>', 'page number', int, 1)
    .action(
      action(async (c, _g, o: { status?: string; perPage: number; page: number }) => {
        const r = await unwrap(
          c.GET('/api/v1/agents', {
            params: { query: { status: o.status as never, per_page: o.perPage, page: o.page } },
          }),
        );
        return page(r.data, AGENT_COLUMNS, r);
      }),
    );
  agents
    .command('get <id>')
    .description('show one agent')
    .action(
      action(async (c, _g, id: string) => ({
        record: await unwrap(c.GET('/api/v1/agents/{id}', { params: { path: { id } } })),
      })),
    );
  agents
    .command('retire <id>')
    .description('retire an agent')
    .option('--force', 'also retire its targets and cancel its open jobs')
    .option('--reason <text>', 'why it is retired')
    .action(
      action(async (c, _g, id: string, o: { force?: boolean; reason?: string }) => ({
        record: await unwrap(
          c.DELETE('/api/v1/agents/{id}', {
            params: { path: { id }, query: { force: o.force, reason: o.reason } },
          }),
        ),
      })),
    );

  const jobs = program.command('jobs').description('jobs');
  jobs
    .command('list')
    .description('list jobs')
    .option('--status <status>', 'only this status')
    .option('--type <type>', 'only this type')
    .option('--certificate <id>', 'only jobs of this certificate')
    .option('--per-page <n>', 'page size', int, 50)
    .option('--page <n>', 'page number', int, 1)
    .action(
      action(
        async (c, _g, o: { status?: string; type?: string; certificate?: string; perPage: number; page: number }) => {
          const r = await unwrap(
            c.GET('/api/v1/jobs', {
              params: {
                query: {
                  status: o.status as never,
                  type: o.type as never,
                  certificate_id: o.certificate,
                  per_page: o.perPage,
                  page: o.page,
                },
              },
            }),
          );
          return page(r.data, JOB_COLUMNS, r);
        },
      ),
    );
  jobs
    .command('get <id>')
    .description('show one job')
    .action(
      action(async (c, _g, id: string) => ({
        record: await unwrap(c.GET('/api/v1/jobs/{id}', { params: { path: { id } } })),
      })),
    );
  jobs
    .command('cancel <id>')
    .description('cancel a job')
    .option('--reason <text>', 'why it is cancelled')
    .action(
      action(async (c, _g, id: string, o: { reason?: string }) => ({
        record: await unwrap(
          c.POST('/api/v1/jobs/{id}/cancel', { params: { path: { id } }, body: { reason: o.reason } }),
        ),
      })),
    );

  const approvals = program.command('approvals').description('approval requests');
  approvals
    .command('list')
    .description('list approval requests')
    .option('--state <state>', 'only this state, e.g. pending')
    .option('--per-page <n>', 'page size', int, 50)
    .option('--page <n>', 'page number', int, 1)
    .action(
      action(async (c, _g, o: { state?: string; perPage: number; page: number }) => {
        const r = await unwrap(
          c.GET('/api/v1/approvals', {
            params: { query: { state: o.state as never, per_page: o.perPage, page: o.page } },
          }),
        );
        return page(r.data, APPROVAL_COLUMNS, r);
      }),
    );
  for (const verb of ['approve', 'reject'] as const) {
    approvals
      .command(`${verb} <id>`)
      .description(`${verb} an approval request`)
      .option('--note <text>', 'a note kept with the decision')
      .action(
        action(async (c, _g, id: string, o: { note?: string }) => ({
          record: await unwrap(
            c.POST(`/api/v1/approvals/{id}/${verb}`, { params: { path: { id } }, body: { note: o.note } }),
          ),
        })),
      );
  }

  program
    .command('import <files...>')
    .description('import every certificate in PEM files (idempotent by SHA-256 fingerprint)')
    .requiredOption('--agent <id>', 'the agent the certificates are recorded as discovered by')
    .action(
      action(async (c, g, files: string[], o: { agent: string }) => {
        const s = await importPemFiles(c, o.agent, files);
        for (const i of s.items.filter((x) => x.outcome === 'failed')) {
          process.stderr.write(
            `failed: ${i.file}${i.fingerprint_sha256 ? ` ${i.fingerprint_sha256}` : ''}: ${i.error}\n`,
          );
        }
        print(g, { record: { created: s.created, skipped: s.skipped, failed: s.failed }, json: s });
        if (s.failed > 0) process.exitCode = 1;
        return undefined;
      }),
    );

  program.addCommand(estCommand());

  program
    .command('status')
    .description('server health and a summary of the inventory')
    .action(
      action(async (c) => {
        const health = await unwrap(c.GET('/health'));
        const stats = await unwrap(c.GET('/api/v1/stats/summary'));
        return { record: { health: health.status, ...stats }, json: { health, summary: stats } };
      }),
    );

  program
    .command('version')
    .description("this CLI's version and, when a server is configured, the server's")
    .action(async (_o: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      if (!g.server) return print(g, { record: { cli: CLI_VERSION } });
      await action(async (c) => {
        const v = await unwrap(c.GET('/api/v1/version'));
        return { record: { cli: CLI_VERSION, server: v.version, api: v.api }, json: { cli: CLI_VERSION, server: v } };
      })(cmd);
    });

  return program;
}

if (require.main === module) {
  buildProgram()
    .parseAsync(process.argv)
    .catch((e: unknown) => {
      process.stderr.write(describeError(e) + '\n');
      process.exitCode = 1;
    });
}
