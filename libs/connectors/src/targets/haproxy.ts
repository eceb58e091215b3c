import { readFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { TargetType } from '@certctl/domain';
import type { ConfigObject } from '../config/spec';
import { KEY_FILE_MODE, deployFiles, type DeployStep } from './deploy-files';
import { checkDeployMaterial, joinPem, parseTargetConfig } from './pem-file-targets';
import { haproxyConfig } from './target-configs';
import type { DeployContext, DeployMaterial, DeployResult, TargetConnector, VerifyEndpoint } from './target-port';
import { verifyEndpointFrom } from './verify-endpoint';

const DEFAULT_CFG = '/etc/haproxy/haproxy.cfg';
const RUNTIME_TIMEOUT_MS = 15_000;

/**
 * One command over the HAProxy runtime API (stats socket). Without `prompt` HAProxy answers
 * one command and closes the connection, so the reply is everything up to the end.
 */
export function haproxyRuntimeCommand(
  socketPath: string,
  command: string,
  opts: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = createConnection({ path: socketPath });
    const onAbort = () => sock.destroy(new Error('aborted'));
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    sock.setTimeout(opts.timeoutMs ?? RUNTIME_TIMEOUT_MS, () =>
      sock.destroy(new Error(`no answer from ${socketPath}`)),
    );
    sock.on('connect', () => sock.write(command.endsWith('\n') ? command : `${command}\n`));
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    sock.on('error', reject);
    sock.on('close', () => opts.signal?.removeEventListener('abort', onAbort));
  });
}

/**
 * Hot update of a certificate HAProxy already serves: `set ssl cert` with the file's current
 * bytes (read from disk, so after a rollback the same step pushes the old certificate back),
 * then `commit ssl cert`. A failed transaction is aborted.
 */
export function haproxyRuntimeUpdate(socketPath: string, pemPath: string): DeployStep {
  return {
    name: `HAProxy runtime API update of ${pemPath} over ${socketPath}`,
    run: async (signal) => {
      const pem = joinPem(await readFile(pemPath, 'utf8'));
      const set = await haproxyRuntimeCommand(socketPath, `set ssl cert ${pemPath} <<\n${pem}\n`, { signal });
      if (!/Transaction (created|updated)/.test(set)) throw new Error(`set ssl cert: ${set.trim() || 'no answer'}`);
      const commit = await haproxyRuntimeCommand(socketPath, `commit ssl cert ${pemPath}`, { signal });
      if (!/Success!/.test(commit)) {
        await haproxyRuntimeCommand(socketPath, `abort ssl cert ${pemPath}`).catch(() => undefined);
        throw new Error(`commit ssl cert: ${commit.trim() || 'no answer'}`);
      }
    },
  };
}

/**
 * HAProxy: certificate, chain and key in one PEM (0600 when new: it holds the key). After the
 * validate command, either the reload command or the runtime API hot update.
 */
export const haproxyConnector: TargetConnector = {
  type: TargetType.HAProxy,

  async deploy(material: DeployMaterial, ctx: DeployContext): Promise<DeployResult> {
    const c = parseTargetConfig(TargetType.HAProxy, haproxyConfig, ctx.config);
    checkDeployMaterial(material);
    const reload =
      c.runtime_api_socket !== undefined
        ? haproxyRuntimeUpdate(c.runtime_api_socket, c.pem_path)
        : (c.reload_command ?? ['systemctl', 'reload', 'haproxy']);
    return deployFiles({
      files: [
        {
          path: c.pem_path,
          bytes: joinPem(material.certPem, material.chainPem, material.keyPem),
          mode: KEY_FILE_MODE,
          owner: c.file_owner,
          group: c.file_group,
        },
      ],
      validate: c.validate_command ?? ['haproxy', '-c', '-f', DEFAULT_CFG],
      reload,
      log: ctx.log,
      signal: ctx.signal,
    });
  },

  verifyEndpoint(config: ConfigObject): VerifyEndpoint | undefined {
    return verifyEndpointFrom(config);
  },
};
