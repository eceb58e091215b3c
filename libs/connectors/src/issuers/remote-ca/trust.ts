import { readFile } from 'node:fs/promises';
import { invalid } from '@certctl/domain';
import { pemCertificates } from './issued-certificate';

/** Reads a CA bundle (PEM) that signs a CA API's TLS certificate; errors name the field. */
export async function readCaBundle(path: string, field: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw invalid(`${field} ${path} cannot be read (${code === 'ENOENT' ? 'does not exist' : (code ?? 'error')})`);
  }
  const certs = pemCertificates(text);
  if (certs.length === 0) throw invalid(`${field} ${path} holds no PEM certificate`);
  return certs.join('');
}
