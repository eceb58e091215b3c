import { runCommand, type CommandResult } from './util';

export interface ScepClientOptions {
  /** SCEP URL, e.g. https://127.0.0.1:PORT/scep/label */
  url: string;
  /** PEM CA file Go trusts for the HTTPS connection (SSL_CERT_FILE). */
  tlsCaFile: string;
  privateKey: string;
  certificate: string;
  cn: string;
  challenge?: string;
  timeoutMs?: number;
}

/**
 * Runs micromdm `scepclient` (Debian `scep`): environment limited to PATH and SSL_CERT_FILE
 * (Go's way to trust our TLS CA), bounded run time. It creates the key when the file is
 * missing and sends RenewalReq when the certificate file exists.
 */
export function runScepClient(o: ScepClientOptions): Promise<CommandResult> {
  const args = [
    '-server-url', o.url, '-private-key', o.privateKey, '-certificate', o.certificate,
    '-keySize', '2048', '-cn', o.cn, '-organization', 'Example', '-debug',
    ...(o.challenge === undefined ? [] : ['-challenge', o.challenge]),
  ]; // prettier-ignore
  return runCommand('scepclient', args, { env: { SSL_CERT_FILE: o.tlsCaFile }, timeoutMs: o.timeoutMs ?? 30_000 });
}
