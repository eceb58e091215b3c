import { ErrorCode } from '@certctl/domain';
import { AcmeProblemError, links, retryAfterSeconds, type AcmeResponse } from './acme-transport';

function response(headers: AcmeResponse['headers']): AcmeResponse {
  return { status: 200, headers, body: Buffer.alloc(0) };
}

describe('ACME response headers', () => {
  it('reads every Link target of a relation, in one header or several', () => {
    const r = response({
      link: [
        '<https://ca/dir>;rel="index", <https://ca/cert/1/1>;rel="alternate"',
        '<https://ca/cert/1/2>; rel=alternate',
      ],
    });
    expect(links(r, 'alternate')).toEqual(['https://ca/cert/1/1', 'https://ca/cert/1/2']);
    expect(links(r, 'index')).toEqual(['https://ca/dir']);
    expect(links(r, 'up')).toEqual([]);
  });

  it('takes Retry-After as seconds or as an HTTP date', () => {
    expect(retryAfterSeconds(response({ 'retry-after': '7' }))).toBe(7);
    const now = Date.parse('2026-12-06T10:00:00Z');
    expect(retryAfterSeconds(response({ 'retry-after': 'Sun, 06 Dec 2026 10:00:30 GMT' }), now)).toBe(30);
    expect(retryAfterSeconds(response({ 'retry-after': 'soon' }))).toBeUndefined();
    expect(retryAfterSeconds(response({}))).toBeUndefined();
  });
});

describe('ACME problem documents', () => {
  it('maps rate limits and server errors to retryable codes, the rest to validation errors', () => {
    const rate = new AcmeProblemError(
      { type: 'urn:ietf:params:acme:error:rateLimited', detail: 'slow down' },
      429,
      'newOrder',
    );
    expect(rate.code).toBe(ErrorCode.RateLimited);
    expect(rate.message).toBe('ACME newOrder: rateLimited: slow down');
    expect(new AcmeProblemError({}, 503, 'x').code).toBe(ErrorCode.Unavailable);
    const bad = new AcmeProblemError(
      {
        type: 'urn:ietf:params:acme:error:rejectedIdentifier',
        detail: 'policy',
        subproblems: [{ identifier: { type: 'dns', value: 'a.test' }, detail: 'forbidden name' }],
      },
      400,
      'newOrder',
    );
    expect(bad.code).toBe(ErrorCode.Validation);
    expect(bad.message).toBe('ACME newOrder: rejectedIdentifier: policy (a.test: forbidden name)');
  });
});
