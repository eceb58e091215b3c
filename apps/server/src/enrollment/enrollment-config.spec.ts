import { configProblems as problems } from '../config/config-testing';
import { loadConfig } from '../config/config.schema';

describe('EST/SCEP configuration', () => {
  it('is off by default', () => {
    const c = loadConfig({}).enrollment;
    expect(c.est).toMatchObject({ enabled: false, labels: [] });
    expect(c.scep).toMatchObject({ enabled: false, labels: [] });
  });

  it('refuses to boot SCEP without a credential on any label (CWE-306)', () => {
    expect(problems({ CERTCTL_SCEP_ENABLED: 'true' })).toEqual([
      expect.stringMatching(/SCEP is enabled without a credential: set CERTCTL_SCEP_CHALLENGE_PASSWORD/),
    ]);
    expect(
      problems({
        CERTCTL_SCEP_ENABLED: 'true',
        CERTCTL_SCEP_CHALLENGE_PASSWORD: 'a-long-secret',
        CERTCTL_SCEP_PROFILES: 'wifi',
      }),
    ).toEqual([expect.stringMatching(/SCEP label "wifi" .*CERTCTL_SCEP_PROFILE_WIFI_CHALLENGE_PASSWORD/)]);
  });

  it('reads named labels with their own issuer, profile, challenge, RA files and Intune settings', () => {
    const c = loadConfig({
      CERTCTL_SCEP_ENABLED: 'yes',
      CERTCTL_SCEP_CHALLENGE_PASSWORD: 'default-secret',
      CERTCTL_SCEP_PROFILES: 'wifi, mdm-ios',
      CERTCTL_SCEP_PROFILE_WIFI_ISSUER_ID: 'iss-wifi',
      CERTCTL_SCEP_PROFILE_WIFI_PROFILE_ID: 'prof-wifi',
      CERTCTL_SCEP_PROFILE_WIFI_CHALLENGE_PASSWORD: 'wifi-secret',
      CERTCTL_SCEP_PROFILE_WIFI_RA_CERT_PATH: '/etc/certctl/ra.pem',
      CERTCTL_SCEP_PROFILE_WIFI_RA_KEY_PATH: '/etc/certctl/ra.key',
      CERTCTL_SCEP_PROFILE_MDM_IOS_INTUNE_ENABLED: 'true',
      CERTCTL_SCEP_PROFILE_MDM_IOS_INTUNE_TRUST_ANCHOR_PATH: '/etc/certctl/intune.pem',
      CERTCTL_SCEP_PROFILE_MDM_IOS_INTUNE_AUDIENCE: 'https://certctl.example/scep/mdm-ios',
      CERTCTL_SCEP_PROFILE_MDM_IOS_INTUNE_MAX_SKEW: '2m',
    }).enrollment.scep;
    expect(c.labels.map((l) => l.label)).toEqual(['', 'wifi', 'mdm-ios']);
    expect(c.labels[0]).toMatchObject({ issuerId: 'iss-local', challengePassword: 'default-secret' });
    expect(c.labels[1]).toMatchObject({
      issuerId: 'iss-wifi',
      profileId: 'prof-wifi',
      raCertPath: '/etc/certctl/ra.pem',
      raKeyPath: '/etc/certctl/ra.key',
    });
    expect(c.labels[2].intune).toEqual({
      trustAnchorPath: '/etc/certctl/intune.pem',
      audience: 'https://certctl.example/scep/mdm-ios',
      maxSkewMs: 120_000,
      perDevicePerHour: 10,
    });
  });

  it('names every EST credential problem', () => {
    expect(problems({ CERTCTL_EST_ENABLED: 'true' })).toEqual([
      expect.stringMatching(/CERTCTL_EST_USERNAME and CERTCTL_EST_PASSWORD_HASH/),
    ]);
    expect(
      problems({
        CERTCTL_EST_ENABLED: 'true',
        CERTCTL_EST_AUTH: 'mtls',
        CERTCTL_EST_PROFILES: 'Bad_Label,iot,iot',
        CERTCTL_EST_PROFILE_IOT_AUTH: 'token',
        CERTCTL_EST_PROFILE_IOT_USERNAME: 'u',
        CERTCTL_EST_PROFILE_IOT_PASSWORD: 'p',
      }),
    ).toEqual([
      expect.stringMatching(/CERTCTL_EST_TRUST_BUNDLE_PATH/),
      expect.stringMatching(/label "bad_label" must be 1-32 lowercase/),
      expect.stringMatching(/label "iot" is listed twice/),
      expect.stringMatching(/CERTCTL_EST_PROFILE_IOT_AUTH must be basic, mtls, both or either, got "token"/),
    ]);
  });

  it('reports enrollment problems together with the other variables', () => {
    expect(problems({ CERTCTL_SERVER_PORT: 'x', CERTCTL_SCEP_ENABLED: 'maybe' })).toEqual([
      expect.stringMatching(/CERTCTL_SERVER_PORT/),
      expect.stringMatching(/CERTCTL_SCEP_ENABLED must be true or false/),
    ]);
  });
});
