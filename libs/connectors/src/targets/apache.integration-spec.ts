import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeServedDeployments } from './testing/served-deployments';
import { freePort, startDaemon, stopByPidFile } from './testing/target-fixtures';

const MODULES = '/usr/lib/apache2/modules';

/*
 * Apache httpd from the Debian package with its own ServerRoot, PidFile and port on
 * 127.0.0.1, mod_ssl loaded from the package's modules; validate `apache2 -t`, reload
 * `apache2 -k graceful` (what apachectl configtest / graceful run).
 */
describeServedDeployments('Apache httpd', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'certctl-apache-'));
  const port = await freePort();
  const at = (f: string) => join(dir, f);
  mkdirSync(at('ssl'));
  mkdirSync(at('htdocs'));
  const conf = at('httpd.conf');
  const asRoot = process.getuid?.() === 0;
  writeFileSync(
    conf,
    `ServerRoot "${dir}"
DefaultRuntimeDir "${dir}"
PidFile "${at('httpd.pid')}"
ErrorLog "${at('error.log')}"
LogLevel warn
ServerName localhost
Listen 127.0.0.1:${port}
LoadModule mpm_event_module ${MODULES}/mod_mpm_event.so
LoadModule authz_core_module ${MODULES}/mod_authz_core.so
LoadModule socache_shmcb_module ${MODULES}/mod_socache_shmcb.so
LoadModule ssl_module ${MODULES}/mod_ssl.so
${asRoot ? 'User nobody\nGroup nogroup' : ''}
SSLSessionCache "shmcb:${at('ssl_scache')}(512000)"
DocumentRoot "${at('htdocs')}"
<VirtualHost 127.0.0.1:${port}>
  SSLEngine on
  SSLCertificateFile ${at('ssl/cert.pem')}
  SSLCertificateChainFile ${at('ssl/chain.pem')}
  SSLCertificateKeyFile ${at('ssl/key.pem')}
</VirtualHost>
`,
  );
  const apache = (...args: string[]) => ['apache2', '-f', conf, ...args];
  return {
    type: 'Apache',
    dir,
    port,
    config: {
      cert_path: at('ssl/cert.pem'),
      chain_path: at('ssl/chain.pem'),
      key_path: at('ssl/key.pem'),
      validate_command: apache('-t'),
      reload_command: apache('-k', 'graceful'),
    },
    files: [at('ssl/cert.pem'), at('ssl/chain.pem'), at('ssl/key.pem')],
    keyFile: at('ssl/key.pem'),
    serverConfigFile: conf,
    brokenConfigLine: 'NotAnApacheDirective on',
    start: async () => {
      await startDaemon(apache('-k', 'start'), at('error.log'));
    },
    stop: async () => {
      await stopByPidFile(at('httpd.pid'));
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
