import { HttpsClient } from './support/https';
import { cleanupAll, startServer, type ServerProcess } from './support/server-process';

/** Day 0 with CERTCTL_BOOTSTRAP_TOKEN: no key on stdout, one admin key through the API, then 410. */

const TOKEN = 'e2e-bootstrap-token-0123456789';
const PATH = '/api/v1/auth/bootstrap';

let srv: ServerProcess;
let api: HttpsClient;

beforeAll(async () => {
  srv = await startServer({ env: { CERTCTL_BOOTSTRAP_TOKEN: TOKEN } });
  api = new HttpsClient(srv.port, srv.caFile!);
}, 60_000);

afterAll(cleanupAll, 60_000);

test('no initial admin key is printed when a bootstrap token is set', () => {
  expect(srv.caFile).toBeDefined();
  expect(srv.adminKey).toBeUndefined();
  expect(srv.stdout()).not.toMatch(/Initial admin|cc_[A-Za-z0-9_-]{20,}/);
  expect(srv.stdout()).not.toContain(TOKEN);
});

test('GET bootstrap: 401 without credentials and with a wrong token, 200 {available:true} with the token', async () => {
  const none = await api.get(PATH);
  expect(none.status).toBe(401);
  expect(none.json).toMatchObject({ error: 'Unauthorized', request_id: none.headers['x-request-id'] });

  const wrong = await api.get(PATH, { bearer: `${TOKEN}x` });
  expect(wrong.status).toBe(401);
  expect(wrong.json.error).toBe('Unauthorized');

  const ok = await api.get(PATH, { bearer: TOKEN });
  expect(ok.status).toBe(200);
  expect(ok.json).toEqual({ available: true });
});

test('the bootstrap token is not an API key', async () => {
  expect((await api.get('/api/v1/auth/me', { bearer: TOKEN })).status).toBe(401);
});

test('POST without the token -> 401 and does not use up the bootstrap', async () => {
  const r = await api.post(PATH, { name: 'intruder' }, { bearer: 'not-the-bootstrap-token' });
  expect(r.status).toBe(401);
  expect((await api.get(PATH, { bearer: TOKEN })).json).toEqual({ available: true });
});

test('POST with the token mints one admin key; afterwards POST and GET -> 410', async () => {
  const r = await api.post(PATH, { name: 'ops-admin' }, { bearer: TOKEN });
  expect(r.status).toBe(201);
  expect(r.json).toMatchObject({ name: 'ops-admin', roles: ['admin'], key: expect.stringMatching(/^cc_/) });

  const me = await api.get('/api/v1/auth/me', { bearer: r.json.key });
  expect(me.status).toBe(200);
  expect(me.json).toMatchObject({ roles: ['admin'], key_name: 'ops-admin' });

  const second = await api.post(PATH, { name: 'ops-admin-2' }, { bearer: TOKEN });
  expect(second.status).toBe(410);
  expect(second.json).toMatchObject({ error: 'Gone', request_id: expect.any(String) });
  expect((await api.get(PATH, { bearer: TOKEN })).status).toBe(410);

  // The minted key keeps working after the bootstrap is spent.
  expect((await api.get('/api/v1/auth/me', { bearer: r.json.key })).status).toBe(200);
});
