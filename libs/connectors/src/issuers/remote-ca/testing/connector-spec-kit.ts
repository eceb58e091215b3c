import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DomainError } from '@certctl/domain';
import { buildCsr, generateKeyPair, parseCsr, type ParsedCsr, type SubjectAltNames } from '@certctl/pki';
import type { IssuerConnector, OrderStatus } from '../../issuer-port';

/** What the remote-CA connector specs share: CSRs, rejections, order polling, a trust file. Test only. */

/** A CSR for a fresh ECDSA P-256 key: the key the CA under test must certify. */
export async function newCsr(commonName: string, sans?: Partial<SubjectAltNames>): Promise<ParsedCsr> {
  const keys = await generateKeyPair('ECDSA-P256');
  return parseCsr(await buildCsr({ keys, commonName, ...(sans ? { sans } : {}) }));
}

/** The error `p` rejects with (a resolved promise fails the test). */
export async function rejection(p: Promise<unknown>): Promise<DomainError> {
  try {
    await p;
  } catch (e) {
    return e as DomainError;
  }
  throw new Error('expected a rejection');
}

/**
 * Polls an order until it is no longer pending, as the server's poll loop would (without
 * the waits: the fake CAs count polls, not time). Answers the final status and how many
 * polls it took; more than `max` fails the test.
 */
export async function pollUntilDone(
  conn: Pick<IssuerConnector, 'getOrderStatus'>,
  orderId: string,
  spkiDer: Uint8Array,
  max = 10,
): Promise<[OrderStatus, number]> {
  for (let i = 1; i <= max; i++) {
    const s = await conn.getOrderStatus(orderId, { spkiDer });
    if (s.state !== 'pending') return [s, i];
  }
  throw new Error(`order ${orderId} still pending after ${max} polls`);
}

/**
 * A temporary directory with `tls-ca.pem`, the CA that signs a fake API's TLS certificate
 * (what a connector's ca_cert_path / trust_ca_path points at). The caller removes `dir`.
 */
export function trustFileDir(prefix: string, tlsCaPem: string): { dir: string; tlsCaFile: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const tlsCaFile = join(dir, 'tls-ca.pem');
  writeFileSync(tlsCaFile, tlsCaPem);
  return { dir, tlsCaFile };
}
