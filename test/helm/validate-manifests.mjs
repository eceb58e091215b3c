// Reads a JSON array of Kubernetes manifests on stdin and prints, for each manifest, the list
// of its problems (a JSON array of arrays). Each manifest is validated against the OpenAPI schema of its apiVersion/kind from
// kubernetes-models (and its cert-manager and prometheus-operator companions). A kind we have
// no schema for is a problem too, so nothing passes unchecked. ESM only, hence a child process.
import * as core from 'kubernetes-models/v1';
import * as apps from 'kubernetes-models/apps/v1';
import * as batch from 'kubernetes-models/batch/v1';
import * as policy from 'kubernetes-models/policy/v1';
import * as networking from 'kubernetes-models/networking.k8s.io/v1';
import * as certManager from '@kubernetes-models/cert-manager/cert-manager.io/v1';
import * as monitoring from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';

const groups = {
  v1: core,
  'apps/v1': apps,
  'batch/v1': batch,
  'policy/v1': policy,
  'networking.k8s.io/v1': networking,
  'cert-manager.io/v1': certManager,
  'monitoring.coreos.com/v1': monitoring,
};

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const manifests = JSON.parse(Buffer.concat(chunks).toString('utf8'));

function problemsOf(m) {
  const where = `${m?.kind ?? '?'} ${m?.metadata?.name ?? '?'}`;
  const Model = groups[m?.apiVersion]?.[m?.kind];
  if (typeof Model !== 'function' || Model.kind !== m.kind) {
    return [`${where}: no schema for apiVersion ${m?.apiVersion} kind ${m?.kind}`];
  }
  try {
    new Model(m).validate();
    return [];
  } catch (e) {
    return [`${where}: ${e instanceof Error ? e.message : String(e)}`];
  }
}

process.stdout.write(JSON.stringify(manifests.map(problemsOf)));
