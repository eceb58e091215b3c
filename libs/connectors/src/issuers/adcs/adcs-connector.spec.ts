import { X509Certificate } from 'node:crypto';
import { rmSync } from 'node:fs';
import { ErrorCode } from '@certctl/domain';
import { derToPem, type ParsedCsr } from '@certctl/pki';
import { issuerConfigSpec, validateIssuerConnection } from '../registry';
import { checkConfig } from '../../config/spec';
import { isPendingOrder, type IssuanceRequest, type IssuanceResult } from '../issuer-port';
import { newCsr, pollUntilDone, rejection, trustFileDir } from '../remote-ca/testing/connector-spec-kit';
import { FakeCaApi, TestCa, type ApiAnswer, type ApiRequest } from '../remote-ca/testing/fake-ca-api';
import { AdcsConnector } from './adcs-connector';
import { parseRetrievePage, parseSubmitPage } from './certsrv-pages';

/**
 * Contract tests against a local HTTPS server playing ADCS web enrollment (certsrv): it
 * checks Basic auth and the certfnsh.asp form fields as the certsrv pages post them, and
 * answers with the pages certsrv renders (Certificate Issued / Pending / Denied, and
 * certnew.cer's certificate or its "Disposition message" error page).
 */

const USER = 'CORP\\svc-certctl';
const PASSWORD = 'P@ss:word-ü';
const TEMPLATE = 'Web Server 2';

let api: FakeCaApi;
let ca: TestCa;
let dir: string;
let tlsCaFile: string;
let csr: ParsedCsr;

interface Request {
  csrB64: string;
  /** Polls of certnew.cer left before the CA manager issues it (undefined: issued at once). */
  pendingPolls?: number;
  denied?: string;
  pem?: string;
}
let requests: Map<number, Request>;
let nextId: number;
/** What certfnsh.asp does with the next submission. */
let mode: 'issue' | 'pending' | 'deny' | 'approve-then-deny';

const page = (body: string): ApiAnswer => ({
  status: 200,
  contentType: 'text/html',
  body: `<HTML><Head><Meta HTTP-Equiv="Content-Type" Content="text/html; charset=UTF-8"><Title>Microsoft Active Directory Certificate Services</Title></Head><Body>${body}</Body></HTML>`,
});

const issuedPage = (id: number) =>
  page(`<P ID=locPageTitle> <B> Certificate Issued </B>
<P ID=locPageDesc> The certificate you requested was issued to you.
<Input Type=Radio ID=rbB64Enc Name=rbEncoding Checked>Base 64 encoded
<LocID ID=locDownloadCert3><A Href="certnew.cer?ReqID=${id}&amp;Enc=b64">Download certificate</A></LocID>
<LocID ID=locDownloadCertChain3><A Href="certnew.p7b?ReqID=${id}&amp;Enc=b64">Download certificate chain</A></LocID>`);

const pendingPage = (id: number) =>
  page(`<P ID=locPageTitle> <B> Certificate Pending </B>
<P ID=locPageDesc> Your certificate request has been received. However, you must wait for an administrator to issue the certificate you requested.
<P ID=locReqID> Your Request Id is ${id}.
<P ID=locRetainId> Please return to this web site in a day or two to retrieve your certificate.`);

const deniedPage = (id: number, why: string) =>
  page(`<P ID=locPageTitle> <B> Certificate Request Denied </B>
<P ID=locDenied> Your certificate request was denied.
<P> Your Request Id is ${id}. The disposition message is &quot;${why}&quot;.
<P ID=locContactAdmin> Contact your administrator for further information.`);

const errorPage = (disposition: string) =>
  page(`<P ID=locPageTitle> <B> Error </B>
<P ID=locErrorMsg> An unexpected error has occurred:
<P><BlockQuote><Font Face="Courier New">Disposition message:\t\t${disposition}<Br>Result:\t\tThe operation completed successfully. 0x0 (WIN32: 0)<Br></Font></BlockQuote>`);

function basicOk(r: ApiRequest): boolean {
  const [scheme, value] = (r.headers.authorization ?? '').split(' ');
  return scheme === 'Basic' && Buffer.from(value ?? '', 'base64').toString('utf8') === `${USER}:${PASSWORD}`;
}

async function sign(req: Request): Promise<string> {
  const pem = derToPem(Buffer.from(req.csrB64, 'base64'), 'CERTIFICATE REQUEST');
  return (await ca.sign(pem, { commonName: 'intranet.corp.example', sans: { dns: ['intranet.corp.example'] } }))
    .certPem;
}

async function certsrv(r: ApiRequest): Promise<ApiAnswer | undefined> {
  if (!basicOk(r)) {
    return { status: 401, body: 'Unauthorized', headers: { 'www-authenticate': 'Basic realm="ca.corp.example"' } };
  }
  if (r.method === 'POST' && r.path === '/certsrv/certfnsh.asp') {
    if (r.headers['content-type'] !== 'application/x-www-form-urlencoded')
      return { status: 415, body: 'form expected' };
    const f = new URLSearchParams(r.text);
    const fields = [...f.keys()].sort().join(',');
    if (fields !== 'CertAttrib,CertRequest,Mode,SaveCert,TargetStoreFlags')
      return errorPage(`unexpected fields ${fields}`);
    if (f.get('Mode') !== 'newreq' || f.get('TargetStoreFlags') !== '0' || f.get('SaveCert') !== 'yes')
      return errorPage('Mode/TargetStoreFlags/SaveCert not as the form posts them');
    if (f.get('CertAttrib') !== `CertificateTemplate:${TEMPLATE}`)
      return deniedPage(
        nextId++,
        'Denied by Policy Module  0x80094800, The request was for a certificate template that is not supported by the Active Directory Certificate Services policy.',
      );
    const csrB64 = f.get('CertRequest') ?? '';
    if (!/^[A-Za-z0-9+/]+=*$/.test(csrB64))
      return errorPage('Error Parsing Request  ASN1 bad tag value met. 0x8009310b');
    const id = nextId++;
    const req: Request = { csrB64 };
    requests.set(id, req);
    if (mode === 'deny') {
      req.denied = 'Denied by Policy Module  The request subject name is invalid or too long.';
      return deniedPage(id, req.denied);
    }
    if (mode === 'pending' || mode === 'approve-then-deny') {
      req.pendingPolls = 2;
      if (mode === 'approve-then-deny') req.denied = 'Denied by the CA manager';
      return pendingPage(id);
    }
    req.pem = await sign(req);
    return issuedPage(id);
  }
  if (r.method === 'GET' && r.path === '/certsrv/certnew.cer?ReqID=CACert&Renewal=0&Enc=b64') {
    return { status: 200, contentType: 'application/pkix-cert', body: ca.issuing.certPem };
  }
  const get = /^\/certsrv\/certnew\.cer\?ReqID=(\d+)&Enc=b64$/.exec(r.path);
  if (r.method === 'GET' && get) {
    const req = requests.get(Number(get[1]));
    if (!req) return errorPage('Error Parsing Request  The parameter is incorrect. 0x80070057 (WIN32: 87)');
    if (req.pendingPolls !== undefined && req.pendingPolls-- > 0) return errorPage('Taken Under Submission');
    if (req.denied) return errorPage(req.denied);
    req.pem ??= await sign(req);
    return { status: 200, contentType: 'application/pkix-cert', body: req.pem };
  }
  return { status: 404, contentType: 'text/html', body: '<h1>404 - File or directory not found.</h1>' };
}

function config(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    server_url: `${api.url}/certsrv/`,
    template: TEMPLATE,
    auth_method: 'basic',
    domain: 'CORP',
    username: 'svc-certctl',
    password: PASSWORD,
    trust_ca_path: tlsCaFile,
    ...extra,
  };
}

const connector = (extra: Record<string, unknown> = {}) => new AdcsConnector({ config: config(extra) });

function request(): IssuanceRequest {
  return { csr, commonName: 'intranet.corp.example', sans: { dns: ['intranet.corp.example'] } };
}

beforeAll(async () => {
  [api, ca] = await Promise.all([FakeCaApi.start(), TestCa.create('Corp ADCS')]);
  ({ dir, tlsCaFile } = trustFileDir('adcs-', api.tlsCaPem));
  csr = await newCsr('intranet.corp.example');
});

afterAll(async () => {
  await api.stop();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  requests = new Map();
  nextId = 40;
  mode = 'issue';
  api.received.length = 0;
  api.handler = certsrv;
});

describe('ADCS web enrollment (certsrv) connector', () => {
  it('posts certfnsh.asp with Basic auth and the form fields, then downloads certnew.cer with the CA above it', async () => {
    const outcome = await connector().issue(request());
    if (isPendingOrder(outcome)) throw new Error('an auto-issuing template answers the certificate');
    const [post] = api.to('/certsrv/certfnsh.asp');
    const form = new URLSearchParams(post.text);
    expect(Buffer.from(form.get('CertRequest') ?? '', 'base64')).toEqual(Buffer.from(csr.der));
    expect(form.get('CertAttrib')).toBe('CertificateTemplate:Web Server 2');
    expect(api.received.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /certsrv/certfnsh.asp',
      'GET /certsrv/certnew.cer?ReqID=40&Enc=b64',
      'GET /certsrv/certnew.cer?ReqID=CACert&Renewal=0&Enc=b64',
    ]);
    expect(new X509Certificate(outcome.certPem).subject).toContain('CN=intranet.corp.example');
    expect(outcome.chainPem).toBe(ca.issuing.certPem);
    expect(new X509Certificate(outcome.certPem).checkIssued(new X509Certificate(outcome.chainPem))).toBe(true);
  });

  it('turns "Certificate Pending" into an order polled with certnew.cer until the CA manager issues it', async () => {
    mode = 'pending';
    const conn = connector();
    // The request goes through renew() as well (a renewal is a new request for the template).
    const outcome = await conn.renew(request());
    expect(outcome).toEqual({ state: 'pending', orderId: '40' });
    const [status, polls] = await pollUntilDone(conn, '40', csr.spkiDer);
    expect(polls).toBe(3);
    const result = (status as { result: IssuanceResult }).result;
    expect(result.chainPem).toBe(ca.issuing.certPem);
    expect(Buffer.from(new X509Certificate(result.certPem).publicKey.export({ type: 'spki', format: 'der' }))).toEqual(
      Buffer.from(csr.spkiDer),
    );
  });

  it('fails a pending request the CA manager denies, with the disposition message', async () => {
    mode = 'approve-then-deny';
    const conn = connector();
    expect(await conn.issue(request())).toEqual({ state: 'pending', orderId: '40' });
    const [status] = await pollUntilDone(conn, '40', csr.spkiDer);
    expect(status).toEqual({ state: 'failed', message: 'ADCS request 40: Denied by the CA manager' });
  });

  it('refuses an issued certificate for another key than the order carried', async () => {
    mode = 'pending';
    await connector().issue(request());
    const other = await newCsr('x.example');
    const conn = connector();
    await conn.getOrderStatus('40', { spkiDer: other.spkiDer });
    await conn.getOrderStatus('40', { spkiDer: other.spkiDer });
    const e = await rejection(conn.getOrderStatus('40', { spkiDer: other.spkiDer }));
    expect(e.message).toBe('ADCS returned a certificate for a different public key than the one requested');
  });

  it('reports a denied submission with the page message (4xx, not retried)', async () => {
    mode = 'deny';
    const e = await rejection(connector().issue(request()));
    expect(e.code).toBe(ErrorCode.Validation);
    expect(e.message).toBe(
      'ADCS refused the request (request id 40) for template Web Server 2: Denied by Policy Module The request subject name is invalid or too long.',
    );
    const t = await rejection(connector({ template: 'WebServer' }).issue(request()));
    expect(t.message).toContain('not supported by the Active Directory Certificate Services policy');
  });

  it('names refused credentials and an unknown request id', async () => {
    const e = await rejection(connector({ password: 'wrong' }).issue(request()));
    expect(e.code).toBe(ErrorCode.Validation);
    expect(e.message).toBe('ADCS: POST /certfnsh.asp answered HTTP 401: the credentials were refused');
    api.handler = (r) =>
      basicOk(r) ? certsrv(r) : { status: 401, body: 'denied', headers: { 'www-authenticate': 'Negotiate, NTLM' } };
    const ntlm = await rejection(connector({ password: 'wrong' }).getCaCertPem());
    expect(ntlm.message).toContain(
      'certsrv offers only Negotiate, NTLM: NTLM/Kerberos need an authenticating reverse proxy',
    );
    expect(await connector().getOrderStatus('999', { spkiDer: csr.spkiDer })).toEqual({
      state: 'failed',
      message: 'ADCS request 999: Error Parsing Request The parameter is incorrect. 0x80070057 (WIN32: 87)',
    });
    expect(await connector().getOrderStatus('../x', { spkiDer: csr.spkiDer })).toEqual({
      state: 'failed',
      message: 'ADCS: ../x is not a request id',
    });
  });

  it('maps outages to Unavailable (retried) and never hangs', async () => {
    api.handler = () => ({ status: 503, contentType: 'text/html', body: '<h1>Service Unavailable</h1>' });
    const down = await rejection(connector().issue(request()));
    expect(down.code).toBe(ErrorCode.Unavailable);
    expect(down.message).toBe('ADCS: POST /certfnsh.asp answered HTTP 503: Service Unavailable');
    api.handler = () => undefined;
    const hung = await rejection(connector({ timeout_seconds: 1 }).getCaCertPem());
    expect(hung.code).toBe(ErrorCode.Unavailable);
    expect(hung.message).toMatch(
      /^ADCS: no answer from https:\/\/127\.0\.0\.1:\d+ to GET \/certsrv\/certnew\.cer within 1 s$/,
    );
  });

  it('does not pretend to revoke: certsrv cannot', async () => {
    const e = await rejection(connector().revoke({ serialHex: '1a2b', reason: 'keyCompromise' }));
    expect(e.code).toBe(ErrorCode.Validation);
    expect(e.message).toContain('ADCS web enrollment (certsrv) cannot revoke certificates');
    expect(e.message).toContain('certutil -revoke 1a2b');
    expect(api.received).toHaveLength(0);
  });

  it('serves the CA certificate and checks the connection', async () => {
    expect(await connector().getCaCertPem()).toBe(ca.issuing.certPem);
    expect(await validateIssuerConnection('ADCS', config())).toEqual({
      ok: true,
      message: 'ADCS web enrollment reachable; CA CN=Corp ADCS Issuing',
    });
    const bad = await validateIssuerConnection('ADCS', config({ password: 'nope' }));
    expect(bad.ok).toBe(false);
  });

  it('validates the configuration: NTLM/Kerberos point to the reverse proxy', () => {
    const issues = (c: Record<string, unknown>) => {
      const r = checkConfig(issuerConfigSpec('ADCS'), c, 'config');
      return r.ok ? [] : r.issues;
    };
    expect(issues(config())).toEqual([]);
    expect(issues(config({ auth_method: 'ntlm' }))[0]).toMatch(
      /^config\.auth_method: ntlm is not spoken by certctl: put an authenticating reverse proxy/,
    );
    expect(issues(config({ auth_method: 'client_cert' }))).toEqual([
      'config.client_cert_path: is required for auth_method client_cert',
      'config.client_key_path: is required for auth_method client_cert',
      'config.username: does not apply to auth_method client_cert',
      'config.password: does not apply to auth_method client_cert',
      'config.domain: does not apply to auth_method client_cert',
    ]);
  });
});

describe('certsrv page reading', () => {
  it('reads the request id from the issued page as certsrv writes it in script as well', () => {
    expect(parseSubmitPage('sTargetUrl="certnew.cer?ReqID=7&"')).toEqual({ kind: 'issued', reqId: '7' });
    expect(parseSubmitPage('<html>Internal error</html>')).toEqual({
      kind: 'denied',
      reqId: undefined,
      message: 'unrecognized certfnsh.asp answer: Internal error',
    });
    expect(parseRetrievePage('<p>Disposition message: Taken Under Submission</p>')).toEqual({ kind: 'pending' });
  });
});
