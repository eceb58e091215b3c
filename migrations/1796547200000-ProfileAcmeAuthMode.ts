import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Per-profile ACME settings (issue 8), as certctl keeps them on the profile: the auth mode
 * of `/acme/profile/{id}/` (`trust_authenticated` or `challenge`) and whether newAccount
 * needs External Account Binding there. NULL follows the server-wide defaults
 * (CERTCTL_ACME_SERVER_DEFAULT_AUTH_MODE, CERTCTL_ACME_SERVER_EAB_REQUIRED).
 */
export class ProfileAcmeAuthMode1796547200000 implements MigrationInterface {
  name = 'ProfileAcmeAuthMode1796547200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE certificate_profiles
        ADD COLUMN acme_auth_mode TEXT
          CONSTRAINT certificate_profiles_acme_auth_mode_chk
          CHECK (acme_auth_mode IN ('trust_authenticated', 'challenge')),
        ADD COLUMN acme_eab_required BOOLEAN
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE certificate_profiles DROP COLUMN acme_eab_required, DROP COLUMN acme_auth_mode`);
  }
}
