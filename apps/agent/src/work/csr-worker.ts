import {
  exportPrivateKeyPem,
  generateKeyPair,
  KEY_ALGORITHMS,
  buildCsr,
  effectiveSans,
  sansFromStrings,
  type KeyAlgorithm,
} from '@certctl/pki';
import { JobStatus } from '@certctl/domain';
import type { AgentLogger } from '../logging/agent-logger';
import type { KeyStore } from '../keys/key-store';
import type { IssuedCertificate, ServerApi, WorkItem } from '../api/server-api';

/** The key the job asks for when this agent can make it, else ECDSA P-256. */
export function keyAlgorithmFor(item: Pick<WorkItem, 'key_algorithm'>): KeyAlgorithm {
  const wanted = item.key_algorithm?.trim().toUpperCase();
  return KEY_ALGORITHMS.find((a) => a.toUpperCase() === wanted) ?? 'ECDSA-P256';
}

/**
 * The answer to a CSR. Asynchronous CAs (DigiCert, Sectigo, ...) answer `AwaitingIssuer` with
 * the CA's order id and no certificate yet; the server polls the CA and creates the deployment
 * jobs once it issues. `status` is read through this narrow type because SDK schemas generated
 * before that answer existed lack it (an answer without it is an issued certificate).
 */
type CsrAnswer = Partial<IssuedCertificate> & { status?: string; order_id?: string };

/**
 * An AwaitingCSR job: a fresh key made here and stored 0600 (pending), a CSR with the
 * certificate's names, submitted; once the server has issued the certificate the key
 * becomes the certificate's current key. While an asynchronous CA has not issued yet the key
 * stays pending and the current one stays in use: the deployment of the new certificate
 * promotes it (KeyStore.keyForDeployment). The private key never leaves this machine.
 */
export async function handleCsrJob(
  item: WorkItem,
  deps: { api: ServerApi; keys: KeyStore; log: AgentLogger },
): Promise<void> {
  const { api, keys, log } = deps;
  const alg = keyAlgorithmFor(item);
  const pair = await generateKeyPair(alg);
  const keyPath = await keys.writePending(item.certificate_id, exportPrivateKeyPem(pair.privateKey));
  let sans;
  try {
    // The CN is listed among the SANs too, as the certificate will be: CAs that check a CSR's
    // names against the order (ACME) refuse a CSR whose CN is not among them.
    sans = effectiveSans(item.common_name ?? undefined, sansFromStrings(item.sans ?? []));
  } catch (e) {
    // The server issues the certificate's own names whatever the CSR asks; never block on this.
    log.warn('CSR without SANs: the job lists names this agent cannot encode', {
      job_id: item.id,
      error: (e as Error).message,
    });
  }
  const csrPem = await buildCsr({ keys: pair, commonName: item.common_name ?? undefined, sans });
  const answer: CsrAnswer = await api.submitCsr(item.certificate_id, csrPem, item.id);
  if (answer.status === JobStatus.AwaitingIssuer) {
    log.info('CSR accepted; the CA issues later, the new key stays pending until its certificate is deployed', {
      job_id: item.id,
      certificate_id: item.certificate_id,
      order_id: answer.order_id,
      key_algorithm: alg,
      key_file: keyPath,
    });
    return;
  }
  await keys.promotePending(item.certificate_id);
  log.info('certificate issued for a locally generated key', {
    job_id: item.id,
    certificate_id: item.certificate_id,
    version_id: answer.version_id,
    serial_number: answer.serial_number,
    key_algorithm: alg,
    key_file: keyPath.replace(/\.pending$/, ''),
    deployment_jobs: answer.deployment_job_ids,
  });
}
