import {
  calculateJwkThumbprint,
  compactDecrypt,
  flattenedDecrypt,
  importJWK,
  type FlattenedJWE,
  type JWK,
  type KeyLike,
} from 'jose';
import { invalid } from '@certctl/domain';

/** A JWK provisioner's signing key, ready for one-time tokens. */
export interface ProvisionerKey {
  key: KeyLike | Uint8Array;
  /** The `kid` step-ca looks the provisioner up by (its JWK thumbprint, unless the JWK names one). */
  kid: string;
  alg: string;
}

/**
 * step encrypts provisioner keys with PBES2 and 100 000 PBKDF2 iterations (its default);
 * jose refuses more than 10 000 unless told. The cap still bounds the work a hostile key
 * file or /provisioners answer can cause.
 */
const MAX_PBES2_COUNT = 1_000_000;

function defaultAlg(jwk: JWK): string {
  if (jwk.alg) return jwk.alg;
  if (jwk.kty === 'EC') return jwk.crv === 'P-384' ? 'ES384' : jwk.crv === 'P-521' ? 'ES512' : 'ES256';
  if (jwk.kty === 'OKP') return 'EdDSA';
  if (jwk.kty === 'RSA') return 'RS256';
  throw invalid(`provisioner key: unsupported JWK key type ${String(jwk.kty)}`);
}

async function decrypt(text: string, password: string | undefined, field: string): Promise<JWK> {
  if (password === undefined) throw invalid(`${field} is encrypted: config.provisioner_password is required`);
  const secret = new TextEncoder().encode(password);
  const options = {
    maxPBES2Count: MAX_PBES2_COUNT,
    keyManagementAlgorithms: ['PBES2-HS256+A128KW', 'PBES2-HS384+A192KW', 'PBES2-HS512+A256KW'],
  };
  let plaintext: Uint8Array;
  try {
    plaintext = text.trimStart().startsWith('{')
      ? (await flattenedDecrypt(JSON.parse(text) as FlattenedJWE, secret, options)).plaintext
      : (await compactDecrypt(text.trim(), secret, options)).plaintext;
  } catch (e) {
    const why =
      (e as { code?: string }).code === 'ERR_JWE_DECRYPTION_FAILED'
        ? 'wrong provisioner_password?'
        : (e as Error).message;
    throw invalid(`${field} cannot be decrypted (${why})`);
  }
  try {
    return JSON.parse(new TextDecoder().decode(plaintext)) as JWK;
  } catch {
    throw invalid(`${field} decrypts to something that is not a JWK`);
  }
}

/**
 * Reads a provisioner key in the forms step uses: a plain private JWK (JSON), an encrypted
 * JWK as `step crypto jwk create` writes it (flattened JWE JSON), or the compact JWE that
 * step-ca keeps as the provisioner's `encryptedKey`.
 */
export async function loadProvisionerKey(
  text: string,
  password: string | undefined,
  field: string,
): Promise<ProvisionerKey> {
  let jwk: JWK;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (parsed && typeof parsed === 'object' && 'kty' in parsed) jwk = parsed as JWK;
  else if (parsed && typeof parsed === 'object' && 'ciphertext' in parsed) jwk = await decrypt(text, password, field);
  else if (/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]*){4}$/.test(text.trim())) jwk = await decrypt(text, password, field);
  else throw invalid(`${field} is neither a JWK nor an encrypted JWK (JWE)`);
  if (jwk.d === undefined) throw invalid(`${field} is a public JWK: the provisioner's private key is needed`);
  const alg = defaultAlg(jwk);
  let key: KeyLike | Uint8Array;
  try {
    key = await importJWK(jwk, alg);
  } catch (e) {
    throw invalid(`${field} is not a usable ${alg} key (${(e as Error).message})`);
  }
  const kid = jwk.kid ?? (await calculateJwkThumbprint(jwk, 'sha256'));
  return { key, kid, alg };
}
