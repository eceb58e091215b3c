{{/* Names ------------------------------------------------------------------------------- */}}

{{- define "certctl.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-<chart>, or <release> when it already contains the chart name; 63 chars max. */}}
{{- define "certctl.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "certctl.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels (Kubernetes recommended labels) ------------------------------------------------ */}}

{{- define "certctl.selectorLabels" -}}
app.kubernetes.io/name: {{ include "certctl.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "certctl.labels" -}}
helm.sh/chart: {{ include "certctl.chart" . }}
{{ include "certctl.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: certctl
{{- end }}

{{/* Labels of one component: pass (dict "ctx" $ "component" "server"). */}}
{{- define "certctl.componentLabels" -}}
{{ include "certctl.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "certctl.componentSelectorLabels" -}}
{{ include "certctl.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "certctl.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "certctl.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "certctl.image" -}}
{{- $repo := .Values.image.repository }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Resource names -------------------------------------------------------------------------- */}}

{{- define "certctl.secretName" -}}
{{- default (include "certctl.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "certctl.postgresql.fullname" -}}
{{- printf "%s-postgresql" (include "certctl.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "certctl.redis.fullname" -}}
{{- printf "%s-redis" (include "certctl.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "certctl.postgresql.secretName" -}}
{{- default (include "certctl.postgresql.fullname" .) .Values.postgresql.auth.existingSecret }}
{{- end }}

{{- define "certctl.redis.secretName" -}}
{{- default (include "certctl.redis.fullname" .) .Values.redis.auth.existingSecret }}
{{- end }}

{{- define "certctl.tlsSecretName" -}}
{{- if .Values.tls.existingSecret }}
{{- .Values.tls.existingSecret }}
{{- else if .Values.tls.certManager.enabled }}
{{- printf "%s-tls" (include "certctl.fullname" .) }}
{{- end }}
{{- end }}

{{/* Generated secrets ------------------------------------------------------------------------
Generated once per install: an upgrade reuses the value stored in the live Secret (lookup), and
the value is memoised in .Values so every template of one render sees the same one.
Pass (dict "ctx" $ "secret" NAME "key" KEY "length" N "holder" MAP "field" FIELD). */}}
{{- define "certctl.generatedSecret" -}}
{{- $holder := .holder }}
{{- if not (get $holder .field) }}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .secret }}
{{- $value := "" }}
{{- if and $existing $existing.data (hasKey $existing.data .key) }}
{{- $value = index $existing.data .key | b64dec }}
{{- else }}
{{- $value = randAlphaNum (int .length) }}
{{- end }}
{{- $_ := set $holder .field $value }}
{{- end }}
{{- get $holder .field }}
{{- end }}

{{- define "certctl.configEncryptionKey" -}}
{{- include "certctl.generatedSecret" (dict "ctx" . "secret" (include "certctl.fullname" .) "key" "CERTCTL_CONFIG_ENCRYPTION_KEY" "length" 48 "holder" .Values.secrets "field" "configEncryptionKey") }}
{{- end }}

{{- define "certctl.bootstrapToken" -}}
{{- include "certctl.generatedSecret" (dict "ctx" . "secret" (include "certctl.fullname" .) "key" "CERTCTL_BOOTSTRAP_TOKEN" "length" 32 "holder" .Values.secrets "field" "bootstrapToken") }}
{{- end }}

{{- define "certctl.agentBootstrapToken" -}}
{{- include "certctl.generatedSecret" (dict "ctx" . "secret" (include "certctl.fullname" .) "key" "CERTCTL_AGENT_BOOTSTRAP_TOKEN" "length" 32 "holder" .Values.secrets "field" "agentBootstrapToken") }}
{{- end }}

{{- define "certctl.postgresql.password" -}}
{{- include "certctl.generatedSecret" (dict "ctx" . "secret" (include "certctl.postgresql.fullname" .) "key" .Values.postgresql.auth.secretKey "length" 32 "holder" .Values.postgresql.auth "field" "password") }}
{{- end }}

{{- define "certctl.redis.password" -}}
{{- include "certctl.generatedSecret" (dict "ctx" . "secret" (include "certctl.redis.fullname" .) "key" .Values.redis.auth.secretKey "length" 32 "holder" .Values.redis.auth "field" "password") }}
{{- end }}

{{/* Validation: called from every workload template so a bad combination fails the render. */}}
{{- define "certctl.validate" -}}
{{- $tls := 0 }}
{{- if .Values.tls.existingSecret }}{{ $tls = add1 $tls }}{{ end }}
{{- if .Values.tls.certManager.enabled }}{{ $tls = add1 $tls }}{{ end }}
{{- if .Values.tls.selfSigned }}{{ $tls = add1 $tls }}{{ end }}
{{- if eq $tls 0 }}
{{- fail "certctl: choose the server's TLS source: set tls.existingSecret, tls.certManager.enabled=true or tls.selfSigned=true (exactly one)" }}
{{- end }}
{{- if gt $tls 1 }}
{{- fail "certctl: choose only one TLS source: tls.existingSecret, tls.certManager.enabled and tls.selfSigned are mutually exclusive" }}
{{- end }}
{{- if and .Values.tls.certManager.enabled (not .Values.tls.certManager.issuerRef.name) }}
{{- fail "certctl: tls.certManager.issuerRef.name is required when tls.certManager.enabled=true" }}
{{- end }}
{{- if not .Values.postgresql.enabled }}
{{- $db := .Values.externalDatabase }}
{{- if not (or $db.url $db.existingSecret) }}
{{- fail "certctl: postgresql.enabled=false needs externalDatabase.url, or externalDatabase.existingSecret (with the URL, or the password when externalDatabase.host is set)" }}
{{- end }}
{{- if and $db.url $db.existingSecret }}
{{- fail "certctl: set externalDatabase.url or externalDatabase.existingSecret, not both" }}
{{- end }}
{{- end }}
{{- if and (not .Values.redis.enabled) (not (or .Values.externalRedis.url .Values.externalRedis.existingSecret)) }}
{{- fail "certctl: redis.enabled=false needs externalRedis.url or externalRedis.existingSecret" }}
{{- end }}
{{- if and .Values.pki.httpPort (eq (int .Values.pki.httpPort) (int .Values.server.port)) }}
{{- fail "certctl: pki.httpPort must differ from server.port (the plain-HTTP PKI listener is a second port)" }}
{{- end }}
{{- if and .Values.agent.enabled .Values.tls.selfSigned (not .Values.agent.serverCaSecret) }}
{{- fail "certctl: agent.enabled needs a server certificate agents can trust: use tls.existingSecret or tls.certManager (self-signed certificates differ per pod), or set agent.serverCaSecret" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.serviceMonitor.apiKeySecret.name) }}
{{- fail "certctl: metrics.serviceMonitor.apiKeySecret.name is required: /api/v1/metrics/prometheus needs an API key with the metrics.read permission" }}
{{- end }}
{{- end }}

{{/* Environment ------------------------------------------------------------------------------ */}}

{{/* CERTCTL_DATABASE_URL (and what it is built from): secret values only by reference. */}}
{{- define "certctl.databaseEnv" -}}
{{- if .Values.postgresql.enabled }}
- name: CHART_DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "certctl.postgresql.secretName" . }}
      key: {{ .Values.postgresql.auth.secretKey }}
- name: CERTCTL_DATABASE_URL
  value: {{ printf "postgres://%s:$(CHART_DATABASE_PASSWORD)@%s:5432/%s" .Values.postgresql.auth.username (include "certctl.postgresql.fullname" .) .Values.postgresql.auth.database | quote }}
{{- else if and .Values.externalDatabase.existingSecret .Values.externalDatabase.host }}
{{- $db := .Values.externalDatabase }}
- name: CHART_DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $db.existingSecret }}
      key: {{ $db.existingSecretPasswordKey }}
- name: CERTCTL_DATABASE_URL
  value: {{ printf "postgres://%s:$(CHART_DATABASE_PASSWORD)@%s:%d/%s%s" $db.username $db.host (int $db.port) $db.database (ternary (printf "?%s" $db.query) "" (ne $db.query "")) | quote }}
{{- else if .Values.externalDatabase.existingSecret }}
- name: CERTCTL_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalDatabase.existingSecret }}
      key: {{ .Values.externalDatabase.existingSecretUrlKey }}
{{- else }}
- name: CERTCTL_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "certctl.fullname" . }}-database
      key: url
{{- end }}
{{- end }}

{{- define "certctl.redisEnv" -}}
{{- if .Values.redis.enabled }}
- name: CHART_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "certctl.redis.secretName" . }}
      key: {{ .Values.redis.auth.secretKey }}
- name: CERTCTL_REDIS_URL
  value: {{ printf "redis://:$(CHART_REDIS_PASSWORD)@%s:6379" (include "certctl.redis.fullname" .) | quote }}
{{- else }}
- name: CERTCTL_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ default (printf "%s-redis-url" (include "certctl.fullname" .)) .Values.externalRedis.existingSecret }}
      key: {{ ternary .Values.externalRedis.existingSecretUrlKey "url" (ne .Values.externalRedis.existingSecret "") }}
{{- end }}
{{- end }}

{{/* The server/worker container's env, volumes and mounts (shared by both Deployments). */}}
{{- define "certctl.serverEnv" -}}
{{ include "certctl.databaseEnv" . | trim }}
{{ include "certctl.redisEnv" . | trim }}
{{- with .Values.server.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "certctl.serverVolumeMounts" -}}
- name: data
  mountPath: /var/lib/certctl
- name: tmp
  mountPath: /tmp
{{- if not .Values.tls.selfSigned }}
- name: tls
  mountPath: /etc/certctl/tls
  readOnly: true
{{- end }}
{{- if .Values.localCa.existingSecret }}
- name: local-ca
  mountPath: /etc/certctl/ca
  readOnly: true
{{- end }}
{{- end }}

{{- define "certctl.serverVolumes" -}}
# Writable paths on a read-only root filesystem: the data directory (self-signed TLS bundle)
# and /tmp. Nothing here must survive the pod: shared state is in PostgreSQL and Redis.
- name: data
  emptyDir: {}
- name: tmp
  emptyDir: {}
{{- if not .Values.tls.selfSigned }}
- name: tls
  secret:
    secretName: {{ include "certctl.tlsSecretName" . }}
    defaultMode: 0440
{{- end }}
{{- if .Values.localCa.existingSecret }}
- name: local-ca
  secret:
    secretName: {{ .Values.localCa.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{/* How Prometheus scrapes a certctl pod (ServiceMonitor and PodMonitor endpoints, after `port`). */}}
{{- define "certctl.metricsScrape" -}}
{{- $sm := .Values.metrics.serviceMonitor -}}
scheme: https
path: /api/v1/metrics/prometheus
interval: {{ $sm.interval }}
scrapeTimeout: {{ $sm.scrapeTimeout }}
authorization:
  type: Bearer
  credentials:
    name: {{ $sm.apiKeySecret.name }}
    key: {{ $sm.apiKeySecret.key }}
tlsConfig:
  serverName: {{ printf "%s.%s.svc" (include "certctl.fullname" .) .Release.Namespace }}
  {{- if $sm.caSecret }}
  ca:
    secret:
      name: {{ $sm.caSecret }}
      key: ca.crt
  {{- else }}
  insecureSkipVerify: true
  {{- end }}
{{- end }}

{{/* Pod annotations that roll the pods when their configuration changes. */}}
{{- define "certctl.configChecksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
