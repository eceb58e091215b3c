import { hashEnrollmentPasswordSync } from '../enrollment/enrollment-password';

/**
 * `npm run est:hash-password`: prints the scrypt hash of an EST enrollment password for
 * CERTCTL_EST_PASSWORD_HASH (or CERTCTL_EST_PROFILE_<LABEL>_PASSWORD_HASH). The password
 * is read from standard input (first line), never from the command line, so it does not
 * land in shell history or the process list.
 */
async function main(): Promise<void> {
  if (process.stdin.isTTY) process.stderr.write('EST password (input is echoed; pipe it in to avoid that): ');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0];
  if (password.length < 8) {
    process.stderr.write('hash-password: the password must be at least 8 characters\n');
    process.exit(2);
  }
  process.stdout.write(`${hashEnrollmentPasswordSync(password)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`hash-password: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
