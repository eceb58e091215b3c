import { request as httpRequest, type IncomingHttpHeaders, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpExchangeResult {
  status: number;
  /** The whole body, at most `maxBytes`. */
  body: Buffer;
  headers: IncomingHttpHeaders;
  /** HTTP trailers (Caddy 2.6 sends the config ETag as one; fetch does not expose them). */
  trailers: NodeJS.Dict<string>;
}

/**
 * One request to a target's management API with node:http(s): a fresh connection (agent:
 * false), a timeout, and a bounded response body; the request fails instead of buffering
 * more than `maxBytes`.
 */
export function httpExchange(
  url: URL,
  options: RequestOptions & { timeoutMs: number; maxBytes: number },
  payload?: string,
): Promise<HttpExchangeResult> {
  const { timeoutMs, maxBytes, ...opts } = options;
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { ...opts, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) req.destroy(new Error(`response larger than ${maxBytes} bytes`));
        else chunks.push(c);
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks),
          headers: res.headers,
          trailers: res.trailers,
        }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    req.on('error', reject);
    req.end(payload);
  });
}
