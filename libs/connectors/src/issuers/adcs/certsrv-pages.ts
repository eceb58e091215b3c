/**
 * Reading the HTML pages of ADCS web enrollment (certsrv). certsrv has no API: each answer
 * is a page made for a browser, and what certctl needs is in a few fixed phrases of the
 * (English) pages:
 *
 * - certfnsh.asp, issued ("Certificate Issued"): links to `certnew.cer?ReqID=<n>&Enc=...`.
 * - certfnsh.asp, pending ("Certificate Pending"): "Your Request Id is <n>."
 * - certfnsh.asp, denied or failed: `The disposition message is "<text>"`.
 * - certnew.cer?ReqID=<n>&Enc=b64: the PEM certificate once issued; else an error page whose
 *   "Disposition message:" is "Taken Under Submission" while pending, or the reason.
 */

/** What a certfnsh.asp submission answered. */
export type SubmitPage =
  | { kind: 'issued'; reqId: string }
  | { kind: 'pending'; reqId: string }
  | { kind: 'denied'; reqId?: string; message: string };

/** What certnew.cer answered for a request id. */
export type RetrievePage = { kind: 'issued'; pem: string } | { kind: 'pending' } | { kind: 'failed'; message: string };

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;
const PENDING_DISPOSITION = /taken under submission/i;

/** The text of a certsrv page: tags dropped, the few entities it writes decoded, whitespace collapsed. */
export function pageText(text: string): string {
  return text
    .replace(/<[^>]*>/g, ' ')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&nbsp;/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The disposition message of an error or denial page, if it has one. */
export function dispositionMessage(html: string): string | undefined {
  const text = pageText(html);
  const quoted = /The disposition message is "([^"]*)"/i.exec(text);
  if (quoted) return quoted[1].trim();
  // certnew.cer error pages: "Disposition message: <text>" followed by the next label or the end.
  const labelled = /Disposition message:\s*(.+?)(?:\s+(?:Result:|Contact your administrator)|$)/i.exec(text);
  return labelled ? labelled[1].trim() : undefined;
}

function requestId(html: string): string | undefined {
  return /Your Request Id is (\d+)/i.exec(pageText(html))?.[1];
}

export function parseSubmitPage(html: string): SubmitPage {
  const issued = /certnew\.cer\?ReqID=(\d+)(?:&|&amp;|")/i.exec(html);
  if (issued) return { kind: 'issued', reqId: issued[1] };
  const text = pageText(html);
  const id = requestId(html);
  if (/Certificate Pending/i.test(text) && id) return { kind: 'pending', reqId: id };
  const message =
    dispositionMessage(html) ??
    (/Certificate Request Denied/i.test(text) ? 'certificate request denied' : undefined) ??
    `unrecognized certfnsh.asp answer: ${text.slice(0, 200)}`;
  return { kind: 'denied', reqId: id, message };
}

export function parseRetrievePage(body: string): RetrievePage {
  const pem = PEM_CERT.exec(body);
  if (pem) return { kind: 'issued', pem: `${pem[0]}\n` };
  const message = dispositionMessage(body);
  if (message && PENDING_DISPOSITION.test(message)) return { kind: 'pending' };
  return { kind: 'failed', message: message ?? `no certificate in the answer: ${pageText(body).slice(0, 200)}` };
}
