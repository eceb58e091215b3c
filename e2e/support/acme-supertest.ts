import { buildCsr, type CryptoKeyPair } from '@certctl/pki';
import type { TestApp } from '../../test/integration/test-app';
import type { AcmeSend } from './acme-jws';

/** AcmeSend over an in-process test app (supertest), for the ACME integration specs. */
export function sender(t: TestApp): AcmeSend {
  return async (method, path, body, contentType) => {
    let req =
      method === 'GET' ? t.http.get(path) : method === 'HEAD' ? t.http.head(path) : t.http.post(path).buffer(true);
    if (contentType) req = req.set('Content-Type', contentType);
    const res = await (body === undefined ? req : req.send(body));
    return {
      status: res.status,
      headers: res.headers,
      text: typeof res.text === 'string' ? res.text : '',
    };
  };
}

/** A CSR for `names` as finalize wants it: base64url DER. */
export async function csrDer(
  keys: CryptoKeyPair,
  names: { dns?: string[]; ip?: string[] },
  commonName?: string,
): Promise<string> {
  const pem = await buildCsr({ keys, commonName, sans: names });
  return Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64').toString('base64url');
}
