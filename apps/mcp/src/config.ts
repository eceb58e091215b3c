import { isIP } from 'node:net';
import { readCaBundle } from '@certctl/api-client';

/** How the MCP app reaches the server: all from the environment the MCP client starts it with. */
export interface McpConfig {
  serverUrl: string;
  apiKey: string;
  caBundlePem?: string;
}

export class ConfigError extends Error {}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/**
 * Reads CERTCTL_SERVER_URL, CERTCTL_API_KEY and CERTCTL_SERVER_CA_BUNDLE_PATH.
 *
 * The URL must be https: the API key travels in every request. Plain http is accepted only for
 * a loopback host (a server or TLS-terminating proxy on the same machine), where the key never
 * crosses a network.
 */
export function loadConfig(env: NodeJS.ProcessEnv): McpConfig {
  const rawUrl = env.CERTCTL_SERVER_URL?.trim();
  if (!rawUrl) throw new ConfigError('CERTCTL_SERVER_URL is not set (e.g. https://certctl.example.com:8443)');
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new ConfigError(`CERTCTL_SERVER_URL is not a URL: ${rawUrl}`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
    throw new ConfigError(
      `CERTCTL_SERVER_URL must be https (plain http only for a loopback host): ${url.protocol}//${url.host}`,
    );
  }
  if (url.username || url.password || url.search || url.hash || !/^\/*$/.test(url.pathname)) {
    throw new ConfigError('CERTCTL_SERVER_URL must be the server origin only, e.g. https://certctl.example.com:8443');
  }
  const apiKey = env.CERTCTL_API_KEY?.trim();
  if (!apiKey) throw new ConfigError('CERTCTL_API_KEY is not set');
  const caPath = env.CERTCTL_SERVER_CA_BUNDLE_PATH?.trim();
  let caBundlePem: string | undefined;
  if (caPath) {
    try {
      caBundlePem = readCaBundle(caPath);
    } catch (e) {
      throw new ConfigError((e as Error).message);
    }
  }
  return { serverUrl: url.origin, apiKey, caBundlePem };
}
