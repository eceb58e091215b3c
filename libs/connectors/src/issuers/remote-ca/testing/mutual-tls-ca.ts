import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeClientCerts, type ClientCertFiles } from './client-certs';
import { FakeCaApi, TestCa } from './fake-ca-api';

/**
 * A fake CA API that requires a client certificate signed by its client CA (mutual TLS, as
 * the Entrust CA Gateway and GlobalSign Atlas do), the CA behind it, and the files a
 * connector's config names, under a temporary directory. Test only.
 */
export interface MutualTlsCa {
  api: FakeCaApi;
  ca: TestCa;
  dir: string;
  /** The trusted client certificate (CN certctl-client) and a stranger the API refuses. */
  certs: ClientCertFiles;
  /** Connector config: the trusted client certificate and key, and the API's TLS CA file. */
  tlsConfig: { client_cert_path: string; client_key_path: string; trust_ca_path: string };
  /** Stops the API and removes the directory. */
  stop(): Promise<void>;
}

/** Starts the API (its handler still to set) with a TestCa named `caName`, files under a `prefix` temp dir. */
export async function startMutualTlsCa(prefix: string, caName: string): Promise<MutualTlsCa> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const certs = makeClientCerts(dir);
  const [api, ca] = await Promise.all([FakeCaApi.start({ clientCa: certs.clientCaPem }), TestCa.create(caName)]);
  const trustFile = join(dir, 'tls-ca.pem');
  writeFileSync(trustFile, api.tlsCaPem);
  return {
    api,
    ca,
    dir,
    certs,
    tlsConfig: { client_cert_path: certs.cert, client_key_path: certs.key, trust_ca_path: trustFile },
    async stop() {
      await api.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
