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
{{- if .Values.redis.enabled }}
- name: REDIS_URL
  value: {{ printf "redis://%s-redis:6379/0" (include "registro.fullname" .) | quote }}
{{- else }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ default (include "registro.secretName" .) .Values.redis.existingSecret }}
      key: {{ .Values.redis.existingSecretKey }}
{{- end }}
{{- if .Values.legacy.url }}
- name: REGISTRO_LEGACY_URL
  value: {{ .Values.legacy.url | quote }}
{{- end }}
{{- if .Values.legacy.siteProfile }}
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
- name: REGISTRO_ARTIFACTS_DIR
  value: /tmp/artifacts
{{- end }}

{{/* The Selenium standalone Chromium sidecar (WebDriver on 127.0.0.1:<port> inside the pod). */}}
{{- define "registro.browserSidecar" -}}
- name: browser
  image: {{ include "registro.image" (dict "ctx" . "image" .Values.browser.image) }}
  imagePullPolicy: {{ .Values.browser.image.pullPolicy }}
  env:
    - name: SE_NODE_MAX_SESSIONS
      value: "1"
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
  readinessProbe:
    httpGet:
      path: /status
      port: {{ .Values.browser.port }}
    periodSeconds: 10
    timeoutSeconds: 5
  livenessProbe:
    httpGet:
      path: /status
      port: {{ .Values.browser.port }}
    initialDelaySeconds: 30
    periodSeconds: 20
    timeoutSeconds: 5
    failureThreshold: 6
  resources:
    {{- toYaml .Values.browser.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.browser.securityContext | nindent 4 }}
  volumeMounts:
    - name: dshm
      mountPath: /dev/shm
{{- end }}

{{- define "registro.browserVolumes" -}}
- name: dshm
  emptyDir:
    medium: Memory
    sizeLimit: {{ .Values.browser.shmSize }}
{{- end }}

{{/* Read a key of an existing Secret (kept across upgrades) or generate a value. */}}
{{- define "registro.keptOrRandom" -}}
{{- $secret := lookup "v1" "Secret" .ctx.Release.Namespace (include "registro.secretName" .ctx) }}
{{- if and $secret (hasKey $secret.data .key) }}
{{- index $secret.data .key | b64dec }}
{{- else }}
{{- randAlphaNum 32 }}
{{- end }}
{{- end }}
