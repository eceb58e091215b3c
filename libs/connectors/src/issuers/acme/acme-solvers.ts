import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { invalid } from '@certctl/domain';
import type { AcmeAuthorization, AcmeChallenge, AcmeClient } from './acme-client';
import type { Http01Publisher } from './acme-deps';
import { unavailable } from './acme-transport';

/** A challenge made answerable; `cleanup` withdraws it once the authorization settled. */
export interface PresentedChallenge {
  challenge: AcmeChallenge;
  cleanup(): Promise<void>;
}

export interface ChallengeSolver {
  readonly type: 'http-01' | 'dns-01' | 'dns-persist-01';
  present(authz: AcmeAuthorization, challenge: AcmeChallenge, client: AcmeClient): Promise<PresentedChallenge>;
}

/** RFC 8555 section 8.3: tokens are base64url; anything else never reaches a path or a script. */
const TOKEN = /^[A-Za-z0-9_-]{16,256}$/;
/** RFC 1123 host name, lower case (an authorization's identifier never carries the wildcard label). */
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const TXT_VALUE = /^[A-Za-z0-9_-]{43}$/;

function checkedToken(c: AcmeChallenge): string {
  if (!TOKEN.test(c.token ?? '')) throw invalid(`ACME: the CA sent a malformed ${c.type} token`);
  return c.token;
}

/** http-01 through the server's built-in responder (tokens shared by all replicas). */
export class ResponderHttp01Solver implements ChallengeSolver {
  readonly type = 'http-01' as const;
  constructor(private readonly responder: Http01Publisher) {}

  async present(_a: AcmeAuthorization, challenge: AcmeChallenge, client: AcmeClient): Promise<PresentedChallenge> {
    if (!this.responder.listenAddress) {
      throw invalid(
        'ACME http-01: the built-in challenge responder is off (set CERTCTL_ACME_CLIENT_HTTP01_ADDRESS, or http01_webroot on the issuer)',
      );
    }
    const token = checkedToken(challenge);
    await this.responder.publish(token, client.keyAuthorization(token));
    return { challenge, cleanup: () => this.responder.withdraw(token) };
  }
}

/** http-01 by writing the key authorization below a web server's document root. */
export class WebrootHttp01Solver implements ChallengeSolver {
  readonly type = 'http-01' as const;
  constructor(private readonly webroot: string) {}

  async present(_a: AcmeAuthorization, challenge: AcmeChallenge, client: AcmeClient): Promise<PresentedChallenge> {
    const token = checkedToken(challenge);
    const dir = join(this.webroot, '.well-known', 'acme-challenge');
    const file = join(dir, token);
    try {
      await mkdir(dir, { recursive: true });
      await writeFile(file, client.keyAuthorization(token), { mode: 0o644 });
    } catch (e) {
      throw invalid(`ACME http-01: cannot write ${file}: ${(e as Error).message}`);
    }
    return { challenge, cleanup: () => rm(file, { force: true }) };
  }
}

/**
 * dns-01 through the operator's hook scripts: `present <domain> <txt-value>` and
 * `cleanup <domain> <txt-value>`, run directly (no shell) with validated arguments, then a
 * wait for the record to propagate.
 */
export class HookDns01Solver implements ChallengeSolver {
  readonly type = 'dns-01' as const;
  constructor(
    private readonly presentScript: string,
    private readonly cleanupScript: string,
    private readonly propagationSeconds: number,
    private readonly sleep: (ms: number) => Promise<void>,
  ) {}

  async present(authz: AcmeAuthorization, challenge: AcmeChallenge, client: AcmeClient): Promise<PresentedChallenge> {
    const domain = authz.identifier.value.toLowerCase();
    if (authz.identifier.type !== 'dns' || !DOMAIN.test(domain)) {
      throw invalid(`ACME dns-01: ${JSON.stringify(authz.identifier.value)} is not a DNS name a hook may be given`);
    }
    const value = client.dnsTxtValue(checkedToken(challenge));
    if (!TXT_VALUE.test(value)) throw new Error('ACME dns-01: unexpected TXT value shape');
    await runHook(this.presentScript, [domain, value]);
    if (this.propagationSeconds > 0) await this.sleep(this.propagationSeconds * 1000);
    return { challenge, cleanup: () => runHook(this.cleanupScript, [domain, value]) };
  }
}

/**
 * dns-persist-01: the operator keeps a standing TXT record naming the CA and the account,
 * so there is nothing to publish per order; answering the challenge is enough.
 */
export class PersistentDnsSolver implements ChallengeSolver {
  readonly type = 'dns-persist-01' as const;
  async present(_a: AcmeAuthorization, challenge: AcmeChallenge): Promise<PresentedChallenge> {
    return { challenge, cleanup: async () => {} };
  }
}

const HOOK_TIMEOUT_MS = 120_000;

function runHook(script: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(script, args, { timeout: HOOK_TIMEOUT_MS, shell: false, maxBuffer: 64 * 1024 }, (err, _out, stderr) => {
      if (!err) return resolve();
      const why = err.killed ? `timed out after ${HOOK_TIMEOUT_MS / 1000} s` : `failed (${err.code ?? err.message})`;
      reject(unavailable(`ACME dns-01 hook ${script} ${why}: ${String(stderr).trim().slice(0, 300)}`));
    });
  });
}
