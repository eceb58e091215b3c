import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../config/config.schema';
import {
  CONFIG_VARIABLES,
  configReferenceDocument,
  LABEL_PLACEHOLDER,
  defaultLabelVariable,
  variablesReadByConfig,
} from './config-reference';

const DOC = join(__dirname, '..', '..', '..', '..', 'docs', 'configuration-reference.md');

/** A configuration with EST, SCEP with Intune (one named label each), ACME and email on, so their variables take effect. */
const BASE: Record<string, string> = {
  CERTCTL_EST_ENABLED: 'true',
  CERTCTL_EST_USERNAME: 'device',
  CERTCTL_EST_PASSWORD: 'a-long-enough-password',
  CERTCTL_EST_PROFILES: 'lab',
  CERTCTL_EST_PROFILE_LAB_USERNAME: 'device',
  CERTCTL_EST_PROFILE_LAB_PASSWORD: 'a-long-enough-password',
  CERTCTL_SCEP_ENABLED: 'true',
  CERTCTL_SCEP_CHALLENGE_PASSWORD: 'challenge-pw',
  CERTCTL_SCEP_PROFILES: 'lab',
  CERTCTL_SCEP_PROFILE_LAB_CHALLENGE_PASSWORD: 'challenge-pw',
  CERTCTL_SCEP_INTUNE_ENABLED: 'true',
  CERTCTL_SCEP_INTUNE_AUDIENCE: 'https://certctl.example.com/scep',
  CERTCTL_SCEP_INTUNE_TRUST_ANCHOR_PATH: '/etc/certctl/intune.pem',
  CERTCTL_SCEP_PROFILE_LAB_INTUNE_ENABLED: 'true',
  CERTCTL_SCEP_PROFILE_LAB_INTUNE_AUDIENCE: 'https://certctl.example.com/scep/lab',
  CERTCTL_SCEP_PROFILE_LAB_INTUNE_TRUST_ANCHOR_PATH: '/etc/certctl/intune.pem',
  CERTCTL_ACME_SERVER_ENABLED: 'true',
  CERTCTL_SMTP_HOST: 'smtp.example.com',
  CERTCTL_SMTP_FROM_ADDRESS: 'certctl@example.com',
  CERTCTL_PAGERDUTY_ROUTING_KEY: 'R0123456789abcdef0123456789abcde',
  CERTCTL_OPSGENIE_API_KEY: 'opsgenie-key',
};

const concrete = (name: string): string => name.replace(LABEL_PLACEHOLDER, 'LAB');

describe('configuration reference', () => {
  const read = variablesReadByConfig();

  it('describes every variable the configuration loader reads, and none it does not read', () => {
    expect(read.length).toBeGreaterThan(50);
    const undocumented = read.filter((v) => !CONFIG_VARIABLES[defaultLabelVariable(v)]);
    expect(undocumented).toEqual([]);
    const unread = Object.keys(CONFIG_VARIABLES).filter((v) => !read.includes(v));
    expect(unread).toEqual([]);
    for (const [name, doc] of Object.entries(CONFIG_VARIABLES)) {
      expect({ name, description: doc.description.length > 10 }).toEqual({ name, description: true });
    }
  });

  it('docs/configuration-reference.md is what `npm run docs:config` writes now (run it when this fails)', async () => {
    const committed = readFileSync(DOC, 'utf8');
    expect(committed).toBe(await configReferenceDocument(read));
    for (const v of read) expect(committed).toMatch(new RegExp(`^\\| \`${v.replace(/[<>]/g, '.')}\`\\s+\\|`, 'm'));
  });

  it('each documented default is what the loader uses when the variable is unset', () => {
    const baseline = loadConfig(BASE);
    const wrong: string[] = [];
    for (const name of read) {
      const doc = CONFIG_VARIABLES[defaultLabelVariable(name)];
      if (doc.default === undefined || concrete(name) in BASE) continue;
      let explicit: unknown;
      try {
        explicit = loadConfig({ ...BASE, [concrete(name)]: doc.default });
      } catch (e) {
        explicit = (e as Error).message;
      }
      if (JSON.stringify(explicit) !== JSON.stringify(baseline)) wrong.push(`${name}=${doc.default}`);
    }
    expect(wrong).toEqual([]);
  });

  it('a value of the wrong type is refused naming the variable, for typed variables', () => {
    const bad: Partial<Record<string, string>> = {
      integer: 'many',
      boolean: 'perhaps',
      duration: 'soon',
      'byte size': 'lots',
      URL: 'not a url',
      enum: 'no-such-choice',
    };
    const accepted: string[] = [];
    for (const name of read) {
      const doc = CONFIG_VARIABLES[defaultLabelVariable(name)];
      const value = bad[doc.type];
      if (value === undefined) continue;
      const variable = concrete(name);
      try {
        loadConfig({ ...BASE, [variable]: value });
        accepted.push(`${variable}=${value}`);
      } catch (e) {
        expect((e as Error).message).toContain(variable);
      }
    }
    expect(accepted).toEqual([]);
  });

  it('enum variables accept each documented choice', () => {
    for (const name of read) {
      const doc = CONFIG_VARIABLES[defaultLabelVariable(name)];
      if (doc.type !== 'enum') continue;
      for (const choice of doc.allowed!.split(', ')) {
        const env = { ...BASE, [concrete(name)]: choice };
        // mtls-style choices need a trust bundle to be a complete configuration.
        if (/_AUTH$/.test(name) && choice !== 'basic')
          env[concrete(name).replace(/AUTH$/, 'TRUST_BUNDLE_PATH')] = '/x.pem';
        expect(() => loadConfig(env)).not.toThrow();
      }
    }
  });
});
