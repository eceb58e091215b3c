import { str } from './fields';

type Issue = (field: string, message: string) => void;

/** Fields that must be given together (both or neither). */
export function together(v: Record<string, unknown>, issue: Issue, a: string, b: string): void {
  if ((v[a] === undefined) !== (v[b] === undefined)) {
    const missing = v[a] === undefined ? a : b;
    issue(missing, `is required together with ${missing === a ? b : a}`);
  }
}

/** Static AWS keys come as a pair; a session token only with them. */
export function awsCredentials(v: Record<string, unknown>, issue: Issue): void {
  together(v, issue, 'access_key_id', 'secret_access_key');
  if (v.session_token !== undefined && v.access_key_id === undefined) {
    issue('session_token', 'is only used with access_key_id and secret_access_key');
  }
}

export const awsAccessKeyId = () =>
  str().regex(/^(AKIA|ASIA)[A-Z0-9]{16}$/, 'must be an AWS access key id (AKIA... or ASIA...)');
