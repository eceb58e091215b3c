import { readFileSync } from 'node:fs';
import { isApiError } from './errors';

/**
 * Reads the PEM CA bundle a client should trust for the server's TLS certificate, with an
 * error naming the setting and the file (the CLI's `--ca-bundle`, the MCP app's
 * CERTCTL_SERVER_CA_BUNDLE_PATH).
 */
export function readCaBundle(path: string, setting = 'CERTCTL_SERVER_CA_BUNDLE_PATH'): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${setting} ${path}: ${(e as Error).message}`, { cause: e });
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new Error(`${setting} ${path} holds no PEM certificate`);
  }
  return pem;
}

/**
 * One line for a failed call: the API's status, error and message (with its request id), or the
 * transport's message and cause (refused connection, untrusted TLS certificate, timeout).
 */
export function describeApiFailure(e: unknown): string {
  if (isApiError(e)) {
    const id = e.request_id ? ` (request ${e.request_id})` : '';
    return `${e.status} ${e.error}: ${e.message}${id}`;
  }
  const err = e as Error & { cause?: { message?: string; code?: string } };
  const cause = err.cause?.message || err.cause?.code;
  return `${err.message ?? String(e)}${cause ? ` (${cause})` : ''}`;
}
