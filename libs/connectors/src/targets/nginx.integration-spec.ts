import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeServedDeployments } from './testing/served-deployments';
import { freePort, startDaemon, stopByPidFile } from './testing/target-fixtures';

/*
 * NGINX from the Debian package, run on a loopback port with everything (pid, logs, temp
 * paths) in a temporary directory; validate and reload are nginx's own `-t` and `-s reload`.
 */
describeServedDeployments('NGINX', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'certctl-nginx-'));
  const port = await freePort();
  const at = (f: string) => join(dir, f);
  mkdirSync(at('ssl'));
  const conf = at('nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 1;
pid ${at('nginx.pid')};
error_log ${at('error.log')};
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${at('client_body')};
  proxy_temp_path ${at('proxy')};
  fastcgi_temp_path ${at('fastcgi')};
  uwsgi_temp_path ${at('uwsgi')};
  scgi_temp_path ${at('scgi')};
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${at('ssl/site.crt')};
    ssl_certificate_key ${at('ssl/site.key')};
    return 200 "ok";
  }
}
`,
  );
  const nginx = (...args: string[]) => ['nginx', '-c', conf, '-p', dir, '-e', at('error.log'), ...args];
  return {
    type: 'NGINX',
    dir,
    port,
    config: {
      cert_path: at('ssl/site.crt'),
      key_path: at('ssl/site.key'),
      validate_command: nginx('-t'),
      reload_command: nginx('-s', 'reload'),
    },
    files: [at('ssl/site.crt'), at('ssl/site.key')],
    keyFile: at('ssl/site.key'),
    serverConfigFile: conf,
    brokenConfigLine: 'not_an_nginx_directive on;',
    start: async () => {
      await startDaemon(nginx(), at('error.log'));
    },
    stop: async () => {
      await stopByPidFile(at('nginx.pid'));
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
