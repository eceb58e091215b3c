import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTestApp, type TestApp } from '../../../../test/integration/test-app';

const TOKEN = 'integration-bootstrap-token-0123456789';

describe('request pipeline: bad input never reaches a 500', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ CERTCTL_BOOTSTRAP_TOKEN: TOKEN, CERTCTL_MAX_BODY_SIZE: '2KiB' });
  });
  afterAll(async () => {
    await t.close();
  });

  const post = (body: string, type = 'application/json') =>
    t.http.post('/api/v1/auth/bootstrap').set('Authorization', `Bearer ${TOKEN}`).set('Content-Type', type).send(body);

  it('rejects malformed JSON with 400 naming the problem', async () => {
    const res = await post('{"name": ');
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('Bad Request');
    expect(res.body.message).toMatch(/^malformed JSON body/);
    expect(res.body.request_id).toBe(res.headers['x-request-id']);
  });

  it('rejects wrong types with 400 naming the field', async () => {
    const res = await post('{"name": 42}');
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/^body\.name: /);
  });

  it('rejects unknown fields with 400 naming them', async () => {
    const res = await post('{"name":"ok-name","is_root":true}');
    expect(res.status).toBe(400);
    expect(res.body.message).toBe('body.is_root: unknown field');
  });

  it('treats a missing body as {} (the bootstrap body is all optional)', async () => {
    const res = await t.http.post('/api/v1/auth/bootstrap').set('Authorization', `Bearer ${TOKEN}`);
    expect([201, 410]).toContain(res.status);
  });

  it('rejects a JSON body that is not an object', async () => {
    for (const body of ['[]', '"text"']) {
      const res = await post(body);
      expect(res.status).toBe(400);
    }
  });

  it('refuses an oversized body with 413, by Content-Length and when streamed', async () => {
    const big = JSON.stringify({ name: 'x'.repeat(4096) });
    const declared = await post(big);
    expect(declared.status).toBe(413);
    expect(declared.body.message).toContain('CERTCTL_MAX_BODY_SIZE');
    // No Content-Length: the limit must hold while the body streams in.
    const { port } = t.app.getHttpServer().address() as AddressInfo;
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/api/v1/auth/bootstrap',
          headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 8; i++) req.write(big.slice(i * 600, (i + 1) * 600));
      req.end();
    });
    expect(status).toBe(413);
  });

  it('refuses non-JSON bodies on the API with 415', async () => {
    const res = await post('name=x', 'application/x-www-form-urlencoded');
    expect(res.status).toBe(415);
    expect(res.body.message).toContain('application/json');
  });

  it('refuses NUL characters in the URL and in JSON strings with 400', async () => {
    const url = await t.http.get('/api/v1/audit/%00').set('Authorization', `Bearer ${TOKEN}`);
    expect(url.status).toBe(400);
    expect(url.body.message).toContain('NUL');
    const body = await post('{"name":"a\\u0000b"}');
    expect(body.status).toBe(400);
    expect(body.body.message).toContain('NUL');
  });

  it('answers unknown routes with 404 in the error shape', async () => {
    const res = await t.http.get('/api/v1/no-such-thing');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: 'Not Found', message: expect.any(String), request_id: expect.any(String) });
  });

  it('replaces a malformed client request id and keeps a well-formed one', async () => {
    const bad = await t.http.get('/health').set('X-Request-ID', 'bad id with spaces');
    expect(bad.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const good = await t.http.get('/health').set('X-Request-ID', 'trace-0123456789');
    expect(good.headers['x-request-id']).toBe('trace-0123456789');
  });

  it('sends no CORS headers when no origin is configured', async () => {
    const res = await t.http.get('/health').set('Origin', 'https://evil.example');
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('CORS with configured origins', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ CERTCTL_CORS_ORIGINS: 'https://console.example.com' });
  });
  afterAll(async () => {
    await t.close();
  });

  it('allows a listed origin, including its preflight, and ignores others', async () => {
    const pre = await t.http
      .options('/api/v1/auth/me')
      .set('Origin', 'https://console.example.com')
      .set('Access-Control-Request-Method', 'GET')
      .set('Access-Control-Request-Headers', 'authorization');
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('https://console.example.com');
    expect(pre.headers['access-control-allow-headers']).toMatch(/Authorization/i);
    const other = await t.http.get('/health').set('Origin', 'https://evil.example');
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });
});
