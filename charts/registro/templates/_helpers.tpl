{{/* Chart name. */}}
{{- define "registro.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-<chart> unless the release already contains it. */}}
{{- define "registro.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "registro.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Common labels; call with (dict "ctx" $ "component" "api"). */}}
{{- define "registro.labels" -}}
helm.sh/chart: {{ include "registro.chart" .ctx }}
{{ include "registro.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: registro
{{- end }}

{{- define "registro.selectorLabels" -}}
app.kubernetes.io/name: {{ include "registro.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{/* image reference; call with (dict "ctx" $ "image" .Values.api.image). */}}
{{- define "registro.image" -}}
{{- printf "%s:%s" .image.repository (default .ctx.Chart.AppVersion .image.tag) }}
{{- end }}

{{- define "registro.operatorServiceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (printf "%s-operator" (include "registro.fullname" .)) .Values.operator.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Name of the Secret the chart manages. */}}
{{- define "registro.secretName" -}}
{{- printf "%s-secrets" (include "registro.fullname" .) }}
{{- end }}

{{/* True when the bundled PostgreSQL is used. */}}
{{- define "registro.bundledPostgres" -}}
{{- if and (not .Values.database.url) (not .Values.database.existingSecret) }}true{{- end }}
{{- end }}

{{/* Environment shared by the API and the worker: database, Redis, legacy system. */}}
{{- define "registro.redisEnv" -}}
{{- if and .Values.redis.enabled .Values.redis.auth.enabled }}
{{ include "registro.redisPasswordEnv" . | trim }}
# Kubernetes expands $(REDIS_PASSWORD) (defined above): every client built from the URL
# (broker, results, claims, limits, Flower, the operator) authenticates.
- name: REDIS_URL
  value: {{ printf "redis://:$(REDIS_PASSWORD)@%s-redis:6379/0" (include "registro.fullname" .) | quote }}
{{- if .Values.redis.sentinel.enabled }}
# Sentinel mode: the master is asked of the Sentinels; REDIS_URL gives the password.
- name: REGISTRO_REDIS_SENTINELS
  value: {{ include "registro.redisSentinels" . | quote }}
- name: REGISTRO_REDIS_MASTER_NAME
  value: {{ .Values.redis.sentinel.masterName | quote }}
{{- end }}
{{- else if .Values.redis.enabled }}
- name: REDIS_URL
  value: {{ printf "redis://%s-redis:6379/0" (include "registro.fullname" .) | quote }}
{{- else }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ default (include "registro.secretName" .) .Values.redis.existingSecret }}
      key: {{ .Values.redis.existingSecretKey }}
{{- end }}
{{- end }}

{{/* Sentinel mode, shell: SELF (this pod's headless DNS name) and MASTER (the master
another pod's Sentinel names; pod 0 when none answers, i.e. a first install). A pod the
Sentinels still name master is restarting before they noticed: it waits for their
failover rather than come back as a master, possibly empty, that the replicas would copy. */}}
{{- define "registro.redisFindMaster" -}}
{{- $fullname := include "registro.fullname" . -}}
{{- $tries := div (add (div .Values.redis.sentinel.downAfterMilliseconds 1000) 30) 2 -}}
HEADLESS={{ printf "%s-redis-headless.%s.svc" $fullname .Release.Namespace }}
SELF="$HOSTNAME.$HEADLESS"
named() {
  for i in 0 1 2; do
    PEER="{{ $fullname }}-redis-$i.$HEADLESS"
    [ "$PEER" = "$SELF" ] && continue
    M=$(timeout 3 redis-cli -h "$PEER" -p 26379 sentinel get-master-addr-by-name {{ .Values.redis.sentinel.masterName }} 2>/dev/null | head -n 1)
    case "$M" in *".$HEADLESS") echo "$M"; return ;; esac
  done
}
for attempt in $(seq {{ $tries }}); do
  MASTER=$(named)
  [ "$MASTER" = "$SELF" ] || break
  echo "the Sentinels still name this pod the master: waiting for their failover"
  sleep 2
done
[ -n "$MASTER" ] || MASTER="{{ $fullname }}-redis-0.$HEADLESS"
echo "this pod: $SELF, master: $MASTER"
{{- end }}

{{/* Sentinel mode: the three Sentinels, for REGISTRO_REDIS_SENTINELS. */}}
{{- define "registro.redisSentinels" -}}
{{- $fullname := include "registro.fullname" . }}
{{- $hosts := list }}
{{- range $i := until 3 }}
{{- $hosts = append $hosts (printf "%s-redis-%d.%s-redis-headless.%s.svc:26379" $fullname $i $fullname $.Release.Namespace) }}
{{- end }}
{{- join "," $hosts }}
{{- end }}

{{/* The in-cluster Redis' password (redis.auth), from the chart's Secret or yours. */}}
{{- define "registro.redisPasswordEnv" -}}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ default (include "registro.secretName" .) .Values.redis.auth.existingSecret }}
      key: {{ .Values.redis.auth.existingSecretKey }}
{{- end }}

{{- define "registro.commonEnv" -}}
{{- if include "registro.bundledPostgres" . }}
- name: REGISTRO_POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ default (include "registro.secretName" .) .Values.postgresql.auth.existingSecret }}
      key: {{ .Values.postgresql.auth.existingSecretKey }}
- name: REGISTRO_DATABASE_URL
  value: {{ printf "postgresql+psycopg://%s:$(REGISTRO_POSTGRES_PASSWORD)@%s-postgresql:5432/%s" .Values.postgresql.auth.username (include "registro.fullname" .) .Values.postgresql.auth.database | quote }}
{{- else }}
- name: REGISTRO_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ default (include "registro.secretName" .) .Values.database.existingSecret }}
      key: {{ .Values.database.existingSecretKey }}
{{- end }}
{{ include "registro.redisEnv" . | trim }}
{{- if .Values.legacy.url }}
- name: REGISTRO_LEGACY_URL
  value: {{ .Values.legacy.url | quote }}
{{- end }}
{{- if include "registro.siteProfile" . }}
- name: REGISTRO_SITE_PROFILE
  value: /etc/registro/site-profile.yaml
{{- end }}
{{- if or .Values.legacy.existingSecret .Values.legacy.username }}
- name: REGISTRO_LEGACY_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ default (include "registro.secretName" .) .Values.legacy.existingSecret }}
      key: {{ .Values.legacy.usernameKey }}
- name: REGISTRO_LEGACY_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ default (include "registro.secretName" .) .Values.legacy.existingSecret }}
      key: {{ .Values.legacy.passwordKey }}
{{- end }}
- name: REGISTRO_TASK_TIME_LIMIT_S
  value: {{ .Values.worker.taskTimeLimitSeconds | quote }}
- name: REGISTRO_TASK_SOFT_TIME_LIMIT_S
  value: {{ .Values.worker.taskSoftTimeLimitSeconds | quote }}
- name: REGISTRO_BROKER_VISIBILITY_TIMEOUT_S
  value: {{ .Values.worker.brokerVisibilityTimeoutSeconds | quote }}
- name: REGISTRO_ARTIFACTS_DIR
  value: /tmp/artifacts
- name: REGISTRO_REFRESH_ENABLED
  value: {{ .Values.refresh.enabled | quote }}
{{- end }}

{{/* The Selenium standalone Chromium sidecar (WebDriver on 127.0.0.1:<port> inside the pod).
Read-only root filesystem: what the upstream image writes at run time gets an emptyDir
(docker-selenium's Base/NodeBase/Standalone files): supervisord's log, pid and socket
and Java's and Chromium's temporary files in /tmp, Chromium's profile leftovers and
pulseaudio's state in $HOME=/home/seluser, config.toml generated into /opt/selenium
at start, program logs in /var/log/supervisor. */}}
{{- /*
A native sidecar (an init container with restartPolicy: Always, Kubernetes >= 1.29): it
starts before the main container and is stopped only after the main container exited.
As a plain container it got SIGTERM together with the worker, Chromium died under the
task the worker was finishing in its grace period, and the task was scraped again.
*/ -}}
{{- define "registro.browserSidecar" -}}
- name: browser
  image: {{ include "registro.image" (dict "ctx" . "image" .Values.browser.image) }}
  imagePullPolicy: {{ .Values.browser.image.pullPolicy }}
  restartPolicy: Always
  env:
    - name: SE_NODE_MAX_SESSIONS
      value: {{ .Values.browser.maxSessions | quote }}
    - name: SE_NODE_OVERRIDE_MAX_SESSIONS
      value: "true"
    - name: SE_NODE_SESSION_TIMEOUT
      value: {{ .Values.browser.sessionTimeoutSeconds | quote }}
    # The scraper runs Chromium headless: no X server, no VNC.
    - name: SE_START_XVFB
      value: "false"
    - name: SE_START_VNC
      value: "false"
    - name: SE_START_NO_VNC
      value: "false"
    - name: SE_ENABLE_TRACING
      value: "false"
  # Liveness: the WebDriver server process accepts connections (no session, no browser
  # start). Readiness: it answers /status, i.e. it can take a new session.
  livenessProbe:
    tcpSocket:
      port: {{ .Values.browser.port }}
    initialDelaySeconds: 30
    periodSeconds: 20
    timeoutSeconds: 5
    failureThreshold: 6
  readinessProbe:
    httpGet:
      path: /status
      port: {{ .Values.browser.port }}
    periodSeconds: 10
    timeoutSeconds: 5
  resources:
    {{- toYaml .Values.browser.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.browser.securityContext | nindent 4 }}
  volumeMounts:
    - name: dshm
      mountPath: /dev/shm
    - name: browser-tmp
      mountPath: /tmp
    - name: browser-home
      mountPath: /home/seluser
    - name: browser-opt
      mountPath: /opt/selenium
    - name: browser-logs
      mountPath: /var/log/supervisor
{{- end }}

{{/* Init container: seeds the browser-opt emptyDir with the image's own /opt/selenium
(the server jar, browser metadata; ~35 MB) so the start script can write config.toml
next to them on a read-only root filesystem. An image without /opt/selenium (a plain
chromedriver image) has nothing to copy. */}}
{{- define "registro.browserSetup" -}}
- name: browser-setup
  image: {{ include "registro.image" (dict "ctx" . "image" .Values.browser.image) }}
  imagePullPolicy: {{ .Values.browser.image.pullPolicy }}
  command: ["sh", "-c", "if [ -d /opt/selenium ]; then cp -R /opt/selenium/. /seed/; fi"]
  resources:
    {{- toYaml .Values.browser.setupResources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.browser.securityContext | nindent 4 }}
  volumeMounts:
    - name: browser-opt
      mountPath: /seed
{{- end }}

{{- define "registro.browserVolumes" -}}
- name: dshm
  emptyDir:
    medium: Memory
    sizeLimit: {{ .Values.browser.shmSize }}
- name: browser-tmp
  emptyDir: {}
- name: browser-home
  emptyDir: {}
- name: browser-opt
  emptyDir: {}
- name: browser-logs
  emptyDir: {}
{{- end }}

{{/* Egress every Registro pod needs: cluster DNS. */}}
{{- define "registro.egressDns" -}}
- to:
    {{- toYaml .Values.networkPolicy.dns.peers | nindent 4 }}
  ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
{{- end }}

{{/* Egress to Redis: the release's Redis pods, or the external Redis by CIDR. */}}
{{- define "registro.egressRedis" -}}
{{- if .Values.redis.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "registro.selectorLabels" (dict "ctx" . "component" "redis") | nindent 10 }}
  ports:
    - {port: 6379, protocol: TCP}
    {{- if .Values.redis.sentinel.enabled }}
    - {port: 26379, protocol: TCP}
    {{- end }}
{{- else }}
- to:
    {{- range .Values.networkPolicy.externalRedis.cidrs }}
    - ipBlock: {cidr: {{ . | quote }}}
    {{- end }}
  ports:
    - {port: {{ .Values.networkPolicy.externalRedis.port }}, protocol: TCP}
{{- end }}
{{- end }}

{{/* Egress to the database: the bundled PostgreSQL pod, or yours by CIDR. */}}
{{- define "registro.egressDatabase" -}}
{{- if include "registro.bundledPostgres" . }}
- to:
    - podSelector:
        matchLabels:
          {{- include "registro.selectorLabels" (dict "ctx" . "component" "postgresql") | nindent 10 }}
  ports:
    - {port: 5432, protocol: TCP}
{{- else }}
- to:
    {{- range .Values.networkPolicy.externalDatabase.cidrs }}
    - ipBlock: {cidr: {{ . | quote }}}
    {{- end }}
  ports:
    - {port: {{ .Values.networkPolicy.externalDatabase.port }}, protocol: TCP}
{{- end }}
{{- end }}

{{/* Egress to the legacy web system (outside the cluster), by CIDR and ports; and to
the in-cluster demo legacy system when legacyDemo.enabled. */}}
{{- define "registro.egressLegacy" -}}
- to:
    {{- range .Values.networkPolicy.legacy.cidrs }}
    - ipBlock: {cidr: {{ . | quote }}}
    {{- end }}
  ports:
    {{- range .Values.networkPolicy.legacy.ports }}
    - {port: {{ . }}, protocol: TCP}
    {{- end }}
{{- if .Values.legacyDemo.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "registro.selectorLabels" (dict "ctx" . "component" "legacy-demo") | nindent 10 }}
  ports:
    - {port: {{ .Values.legacyDemo.port }}, protocol: TCP}
{{- end }}
{{- end }}

{{/* Read a key of an existing Secret (kept across upgrades) or generate a value. */}}
{{- define "registro.keptOrRandom" -}}
{{- /* gitops=true: neither lookup nor random; validate.yaml fails the render naming the
value to set, so this empty string is never deployed. */}}
{{- if not .ctx.Values.gitops }}
{{- $secret := lookup "v1" "Secret" .ctx.Release.Namespace (include "registro.secretName" .ctx) }}
{{- if and $secret (hasKey $secret.data .key) }}
{{- index $secret.data .key | b64dec }}
{{- else }}
{{- /* One random value per key and render: the Secret and the pods' checksum/secret
annotation (which renders secret.yaml again) must see the same one, or the first
upgrade after an install rolls every pod. */}}
{{- if not (hasKey .ctx.Values "registroGeneratedSecrets") }}
{{- $_ := set .ctx.Values "registroGeneratedSecrets" dict }}
{{- end }}
{{- $generated := .ctx.Values.registroGeneratedSecrets }}
{{- if not (hasKey $generated .key) }}
{{- $_ := set $generated .key (randAlphaNum 32) }}
{{- end }}
{{- index $generated .key }}
{{- end }}
{{- end }}
{{- end }}

{{/* True when a site profile is given: as a value, or as an existing ConfigMap. */}}
{{- define "registro.siteProfile" -}}
{{- if or .Values.legacy.siteProfile .Values.legacy.siteProfileConfigMap }}true{{- end }}
{{- end }}

{{/* The profile's checksum for the pod annotation: of the value's content, or the
user's legacy.siteProfileChecksum for an existing ConfigMap (its content is not known at
render). Empty: no annotation. */}}
{{- define "registro.siteProfileChecksum" -}}
{{- if .Values.legacy.siteProfile }}
{{- .Values.legacy.siteProfile | sha256sum }}
{{- else if .Values.legacy.siteProfileConfigMap }}
{{- .Values.legacy.siteProfileChecksum }}
{{- end }}
{{- end }}

{{/* The profile's volume: the chart's ConfigMap, or the user's with its key. */}}
{{- define "registro.siteProfileVolume" -}}
- name: site-profile
  configMap:
    {{- if .Values.legacy.siteProfile }}
    name: {{ include "registro.fullname" . }}-site-profile
    {{- else }}
    name: {{ .Values.legacy.siteProfileConfigMap }}
    items:
      - key: {{ .Values.legacy.siteProfileConfigMapKey }}
        path: site-profile.yaml
    {{- end }}
{{- end }}

{{- define "registro.siteProfileMount" -}}
- name: site-profile
  mountPath: /etc/registro
  readOnly: true
{{- end }}

{{/* Init container that validates the profile before the pod's containers start: a
broken profile fails the pod, and `registro profile lint` names the file, line and
column in its log (kubectl logs <pod> -c profile-lint). Call with (dict "ctx" $
"image" .Values.worker.image "resources" .Values.worker.resources). */}}
{{- define "registro.siteProfileLint" -}}
- name: profile-lint
  image: {{ include "registro.image" (dict "ctx" .ctx "image" .image) }}
  imagePullPolicy: {{ .image.pullPolicy }}
  command: ["registro", "profile", "lint", "/etc/registro/site-profile.yaml"]
  # the lint's errors (file:line:column) in the pod's status: `kubectl describe pod`
  terminationMessagePolicy: FallbackToLogsOnError
  resources:
    {{- toYaml .resources | nindent 4 }}
  securityContext:
    {{- toYaml .ctx.Values.securityContext | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
    {{- include "registro.siteProfileMount" .ctx | nindent 4 }}
{{- end }}

{{/* Labels of a pod template: the common ones and podLabels. Call with (dict "ctx" $
"component" "api"). */}}
{{- define "registro.podLabels" -}}
{{ include "registro.labels" . }}
{{- with .ctx.Values.podLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Pod-level values every pod takes: imagePullSecrets, priorityClassName (the
component's, else the global one) and topologySpreadConstraints (a constraint without
a labelSelector gets the component's own pods). Call with (dict "ctx" $ "component"
"api" "values" .Values.api); "values" may be omitted (hooks, the test pod). */}}
{{- define "registro.podCommon" -}}
{{- $v := .values | default dict }}
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with default .ctx.Values.priorityClassName $v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $v.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- range . }}
  {{- $c := deepCopy . }}
  {{- if not (hasKey $c "labelSelector") }}
  {{- $_ := set $c "labelSelector" (dict "matchLabels" (include "registro.selectorLabels" (dict "ctx" $.ctx "component" $.component) | fromYaml)) }}
  {{- end }}
  - {{- toYaml $c | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}

{{/* Pod annotations: the component's podAnnotations over the global ones. Call with
(dict "ctx" $ "values" .Values.api); renders the map's lines only. */}}
{{- define "registro.podAnnotations" -}}
{{- $v := .values | default dict }}
{{- with merge (dict) ($v.podAnnotations | default dict) .ctx.Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The CA bundle's file, when caBundle names a ConfigMap or a Secret ("" = none). */}}
{{- define "registro.caBundleFile" -}}
{{- if or .Values.caBundle.configMap .Values.caBundle.secret }}/etc/registro-ca/ca.crt{{- end }}
{{- end }}

{{/* Environment of the Registro containers (API, worker, operator, migrations): the CA
bundle for TLS clients (httpx, redis-py with rediss://, libpq with verify-full). */}}
{{- define "registro.caEnv" -}}
{{- with include "registro.caBundleFile" . }}
- name: SSL_CERT_FILE
  value: {{ . }}
- name: REQUESTS_CA_BUNDLE
  value: {{ . }}
- name: PGSSLROOTCERT
  value: {{ . }}
{{- end }}
{{- end }}

{{/* envFrom of the Registro containers (extraEnvFrom); renders the key or nothing. */}}
{{- define "registro.envFrom" -}}
{{- with .Values.extraEnvFrom }}
envFrom:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Mounts every Registro container adds: the CA bundle and extraVolumeMounts. */}}
{{- define "registro.extraMounts" -}}
{{- if include "registro.caBundleFile" . }}
- name: ca-bundle
  mountPath: /etc/registro-ca
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "registro.extraVolumes" -}}
{{- if .Values.caBundle.configMap }}
- name: ca-bundle
  configMap:
    name: {{ .Values.caBundle.configMap }}
    items:
      - {key: {{ .Values.caBundle.key }}, path: ca.crt}
{{- else if .Values.caBundle.secret }}
- name: ca-bundle
  secret:
    secretName: {{ .Values.caBundle.secret }}
    items:
      - {key: {{ .Values.caBundle.key }}, path: ca.crt}
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Python run by the migrations Job ("migrate") and by the API's and workers' init
container ("wait"): done once the database's schema is at this image's Alembic head or
beyond it (a rollback to an older image after a newer one migrated). "migrate"
upgrades it, "wait" only waits for the Job to. Both retry until the database answers. */}}
{{- define "registro.schemaScript" -}}
import os, sys, time
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from registro.db import alembic_config, make_engine, upgrade
mode, url = sys.argv[1], os.environ["REGISTRO_DATABASE_URL"]
script = ScriptDirectory.from_config(alembic_config(url))
heads = set(script.get_heads())
known = {r.revision for r in script.walk_revisions()}
while True:
    try:
        engine = make_engine(url)
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
        engine.dispose()
        if current == heads or (current and not current <= known):
            print("schema ready:", sorted(current), flush=True)
            sys.exit(0)
        if mode == "migrate":
            print("migrating", sorted(current), "->", sorted(heads), flush=True)
            upgrade(url)
            continue
        print("waiting for the migrations Job:", sorted(current), "->", sorted(heads), flush=True)
    except Exception as exc:
        print("database not ready:", type(exc).__name__, str(exc)[:200], flush=True)
    time.sleep(2)
{{- end }}

{{/* Init container of the API and worker pods: wait until the migrations Job brought
the schema to this image's head (registro.schemaScript). Call with (dict "ctx" $
"image" .Values.api.image "resources" .Values.api.resources). */}}
{{- define "registro.waitForSchema" -}}
- name: wait-for-schema
  image: {{ include "registro.image" (dict "ctx" .ctx "image" .image) }}
  imagePullPolicy: {{ .image.pullPolicy }}
  command: ["python", "-c", {{ include "registro.schemaScript" .ctx | quote }}, "wait"]
  env:
    {{- include "registro.commonEnv" .ctx | nindent 4 }}
    {{- include "registro.caEnv" .ctx | nindent 4 }}
  {{- include "registro.envFrom" .ctx | nindent 2 }}
  resources:
    {{- toYaml .resources | nindent 4 }}
  securityContext:
    {{- toYaml .ctx.Values.securityContext | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
    {{- include "registro.extraMounts" .ctx | nindent 4 }}
{{- end }}
