import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { OcspAnswer } from './ocsp.service';
import type { HotOcspAnswer } from './ocsp-hot-cache';

export const OCSP_REQUEST_TYPE = 'application/ocsp-request';
export const OCSP_RESPONSE_TYPE = 'application/ocsp-response';

/** Seconds from now until `until`, at least 0. */
export function maxAge(until: Date | number, now = Date.now()): number {
  return Math.max(0, Math.floor((Number(until) - now) / 1000));
}

/** True when If-None-Match lists `etag` (or `*`); weak comparison (RFC 9110 13.1.2). */
export function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  const bare = etag.replace(/^W\//, '');
  return ifNoneMatch.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag.replace(/^W\//, '') === bare;
  });
}

function isHot(answer: OcspAnswer): answer is HotOcspAnswer {
  return (answer as Partial<HotOcspAnswer>).etag !== undefined;
}

/**
 * Writes an OCSPResponse (HTTP 200, also for OCSP error statuses) with plain Node calls:
 * the controller and the cache-hit fast path send byte-identical headers. GET answers
 * that may be cached carry RFC 5019 6.2 headers (Cache-Control max-age to nextUpdate,
 * Last-Modified, Expires, a strong ETag; If-None-Match answers 304); everything else is
 * no-store. HEAD gets the headers only.
 */
export function writeOcspResponse(req: IncomingMessage, res: ServerResponse, answer: OcspAnswer, get: boolean): void {
  res.statusCode = 200;
  res.setHeader('Content-Type', OCSP_RESPONSE_TYPE);
  if (answer.problem) res.setHeader('X-Certctl-Ocsp-Problem', answer.problem.replace(/[^\x20-\x7e]/g, '?'));
  if (get && answer.cacheable) {
    const { thisUpdate, nextUpdate } = answer.cacheable;
    const hot = isHot(answer) ? answer : undefined;
    const etag = hot?.etag ?? `"${createHash('sha1').update(answer.der).digest('hex')}"`;
    res.setHeader('Cache-Control', `public, max-age=${maxAge(nextUpdate)}, no-transform, must-revalidate`);
    res.setHeader('Last-Modified', hot?.lastModified ?? thisUpdate.toUTCString());
    res.setHeader('Expires', hot?.expires ?? nextUpdate.toUTCString());
    res.setHeader('ETag', etag);
    if (matches(req.headers['if-none-match'], etag)) {
      res.statusCode = 304;
      res.removeHeader('Content-Type');
      res.end();
      return;
    }
  } else {
    res.setHeader('Cache-Control', 'no-store');
  }
  res.setHeader('Content-Length', answer.der.length);
  if (req.method === 'HEAD') res.end();
  else res.end(answer.der);
}
