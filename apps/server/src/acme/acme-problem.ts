/**
 * An ACME error (RFC 8555 6.7): answered as application/problem+json with an
 * `urn:ietf:params:acme:error:<type>` type. Every refusal of client input is one of these,
 * so a bad request is a 4xx naming what is wrong, never a 5xx.
 */
export class AcmeProblem extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    detail: string,
    /** Extra members of the problem document (e.g. `algorithms` for badSignatureAlgorithm). */
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = 'AcmeProblem';
  }

  body(): Record<string, unknown> {
    return {
      type: `urn:ietf:params:acme:error:${this.type}`,
      detail: this.message,
      status: this.status,
      ...this.extra,
    };
  }
}

export const malformed = (detail: string, status = 400): AcmeProblem => new AcmeProblem(status, 'malformed', detail);
export const unauthorized = (detail: string): AcmeProblem => new AcmeProblem(403, 'unauthorized', detail);
export const badNonce = (detail: string): AcmeProblem => new AcmeProblem(400, 'badNonce', detail);
export const badCsr = (detail: string): AcmeProblem => new AcmeProblem(400, 'badCSR', detail);
export const notFoundProblem = (what: string): AcmeProblem =>
  new AcmeProblem(404, 'malformed', `${what} does not exist`);
