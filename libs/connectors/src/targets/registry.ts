import { TargetType } from '@certctl/domain';
import type { ConfigSpec } from '../config/spec';
import { caddyConnector } from './caddy';
import { envoyConnector } from './envoy';
import { haproxyConnector } from './haproxy';
import { javaKeystoreConnector } from './java-keystore';
import { kubernetesSecretsConnector } from './kubernetes-secrets';
import { apacheConnector, dovecotConnector, nginxConnector, postfixConnector } from './pem-file-targets';
import { sshConnector } from './ssh';
import { TARGET_CONFIGS } from './target-configs';
import type { TargetConnector } from './target-port';
import { traefikConnector } from './traefik';

/** The config schema and secret fields of a deployment target type. */
export function targetConfigSpec(type: TargetType): ConfigSpec {
  return TARGET_CONFIGS[type];
}

/** The target connectors this build has; adding one is one file and one line here. */
const TARGET_CONNECTORS: Partial<Record<TargetType, TargetConnector>> = {
  [TargetType.NGINX]: nginxConnector,
  [TargetType.Apache]: apacheConnector,
  [TargetType.HAProxy]: haproxyConnector,
  [TargetType.Postfix]: postfixConnector,
  [TargetType.Dovecot]: dovecotConnector,
  [TargetType.Traefik]: traefikConnector,
  [TargetType.Caddy]: caddyConnector,
  [TargetType.Envoy]: envoyConnector,
  [TargetType.JavaKeystore]: javaKeystoreConnector,
  [TargetType.SSH]: sshConnector,
  [TargetType.KubernetesSecrets]: kubernetesSecretsConnector,
};

/** The connector that deploys to a target type, or undefined when this build has none. */
export function targetConnector(type: TargetType): TargetConnector | undefined {
  return TARGET_CONNECTORS[type];
}
