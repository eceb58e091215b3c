import { invalid } from '@certctl/domain';

/** Where relying parties fetch revocation data and the issuer certificate of one issuer. */
export interface PkiUrls {
  /** `<publicUrl>/.well-known/pki/crl/<issuer_id>` (DER CRL, RFC 5280 5). */
  crl: string;
  /** `<publicUrl>/.well-known/pki/ocsp/<issuer_id>` (RFC 6960 responder). */
  ocsp: string;
  /** `<publicUrl>/.well-known/pki/ca/<issuer_id>.crt` (DER issuer certificate, RFC 5280 4.2.2.1). */
  caIssuers: string;
}

const cache = new Map<string, PkiUrls>();

/**
 * Why `publicUrl` cannot be the base of CRL/OCSP/CA-issuer URLs (absolute http(s), no
 * credentials, query or fragment), or undefined when it can. The configuration checks its
 * variables with this, so what boots is what pkiUrls accepts.
 */
export function pkiBaseUrlProblem(publicUrl: string): string | undefined {
  let url: URL;
  try {
    url = new URL(publicUrl);
  } catch {
    return `"${publicUrl}" is not an absolute URL`;
  }
  if (
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.search ||
    url.hash ||
    url.username ||
    url.password ||
    publicUrl.includes('?') ||
    publicUrl.includes('#')
  ) {
    return `"${publicUrl}" must be http(s) without credentials, query or fragment`;
  }
  return undefined;
}

/**
 * The URLs certificates of `issuerId` point at, under this server's public URL
 * (`CERTCTL_PUBLIC_URL`). The URL must be absolute http(s) without query or fragment; a
 * trailing slash is dropped; the issuer id is percent-encoded. Memoized: issuance calls
 * this for every certificate.
 */
export function pkiUrls(publicUrl: string, issuerId: string): PkiUrls {
  const key = `${publicUrl}\n${issuerId}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const problem = pkiBaseUrlProblem(publicUrl);
  if (problem) throw invalid(`public_url: ${problem}`);
  const url = new URL(publicUrl);
  if (issuerId.length === 0 || issuerId.length > 128) throw invalid('issuer_id: must be 1-128 characters');
  const base = url.href.replace(/\/+$/, '');
  const id = encodeURIComponent(issuerId);
  const urls: PkiUrls = {
    crl: `${base}/.well-known/pki/crl/${id}`,
    ocsp: `${base}/.well-known/pki/ocsp/${id}`,
    caIssuers: `${base}/.well-known/pki/ca/${id}.crt`,
  };
  if (cache.size >= 1024) cache.clear(); // bounded: a handful of issuers in practice
  cache.set(key, urls);
  return urls;
}
