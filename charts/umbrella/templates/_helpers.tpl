{{/*
Names, labels and the pieces every pod of the chart shares.
*/}}

{{- define "umbrella.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* release-chart, or the release name alone when it already contains the chart name. */}}
{{- define "umbrella.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "umbrella.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "umbrella.selectorLabels" -}}
app.kubernetes.io/name: {{ include "umbrella.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "umbrella.labels" -}}
helm.sh/chart: {{ include "umbrella.chart" . }}
{{ include "umbrella.selectorLabels" . }}
app.kubernetes.io/version: {{ include "umbrella.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: umbrella
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels of one component: include "umbrella.componentLabels" (dict "ctx" $ "component" "api") */}}
{{- define "umbrella.componentLabels" -}}
{{ include "umbrella.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "umbrella.componentSelectorLabels" -}}
{{ include "umbrella.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Object metadata: name, namespace, labels, common annotations and the checkov skips. */}}
{{- define "umbrella.metadata" -}}
name: {{ .name }}
namespace: {{ .ctx.Release.Namespace }}
labels:
  {{- include "umbrella.componentLabels" (dict "ctx" .ctx "component" .component) | nindent 2 }}
  {{- with .labels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- $annotations := merge (dict) (.annotations | default dict) .ctx.Values.commonAnnotations }}
{{- $skips := .skips | default list }}
{{- if or $annotations $skips }}
annotations:
  {{- with $annotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
  {{- range $index, $skip := $skips }}
  checkov.io/skip{{ add1 $index }}: {{ $skip | quote }}
  {{- end }}
{{- end }}
{{- end -}}

{{/*
Checkov findings a workload accepts, each with its reason (tests/deploy runs checkov on the
rendered chart and fails on any finding that is neither fixed nor listed here).
*/}}
{{- define "umbrella.workloadSkips" -}}
{{- $skips := list -}}
{{- if not .Values.image.digest -}}
{{- $skips = append $skips "CKV_K8S_43=the image is pinned by tag; set image.digest to pin it by digest (values-production.yaml does)" -}}
{{- end -}}
{{- $skips = append $skips "CKV_K8S_15=IfNotPresent is right for an immutable tag or a digest; Always only adds a registry round trip to every pod start" -}}
{{- $skips = append $skips "CKV_K8S_35=the settings are read from UMBRELLA_* environment variables (pydantic-settings), so the Secret is passed by envFrom" -}}
{{- if not .Values.containerSecurityContext.readOnlyRootFilesystem -}}
{{- $skips = append $skips "CKV_K8S_22=readOnlyRootFilesystem turned off in values (values-dev.yaml: Tilt live_update writes the synced code into the container)" -}}
{{- end -}}
{{- toJson $skips -}}
{{- end -}}

{{- define "umbrella.testPodSkips" -}}
{{- $skips := include "umbrella.workloadSkips" . | fromJsonArray -}}
{{- $skips = append $skips "CKV_K8S_8=the helm test pod runs `umbrella admin doctor` once and exits; there is no long-lived process to probe" -}}
{{- $skips = append $skips "CKV_K8S_9=the helm test pod receives no traffic, so it has no readiness probe" -}}
{{- toJson $skips -}}
{{- end -}}

{{- define "umbrella.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end -}}

{{- define "umbrella.image" -}}
{{- $repository := .Values.image.repository -}}
{{- if .Values.image.registry -}}
{{- $repository = printf "%s/%s" .Values.image.registry .Values.image.repository -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (include "umbrella.imageTag" .) -}}
{{- end -}}
{{- end -}}

{{- define "umbrella.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "umbrella.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "umbrella.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "umbrella.fullname" .) -}}
{{- end -}}

{{/*
A value as the text of an environment variable or an argument. Helm reads every number of
a values file as a float64, which Go prints in exponent form from 1,000,000 on
("1.048576e+07", which no setting parses); toJson prints it as the number it is.
*/}}
{{- define "umbrella.text" -}}
{{- if or (kindIs "float64" .) (kindIs "int64" .) (kindIs "int" .) -}}
{{- toJson . -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/*
Settings the chart derives from its own values (ports, drain timings, the worker's
scheduler): they must match the probes, the Service, the grace periods and the CronJobs
rendered, so they are not set through config.env.
*/}}
{{- define "umbrella.chartSettings" -}}
UMBRELLA_PORT: {{ include "umbrella.text" .Values.api.containerPort | quote }}
UMBRELLA_WORKER_METRICS_PORT: {{ include "umbrella.text" .Values.worker.metricsPort | quote }}
UMBRELLA_SHUTDOWN_GRACE_SECONDS: {{ include "umbrella.text" .Values.api.shutdown.graceSeconds | quote }}
UMBRELLA_SHUTDOWN_DELAY_SECONDS: {{ include "umbrella.text" .Values.api.shutdown.delaySeconds | quote }}
UMBRELLA_WORKER_SHUTDOWN_GRACE_SECONDS: {{ include "umbrella.text" .Values.worker.shutdownGraceSeconds | quote }}
UMBRELLA_WORKER_SCHEDULER_ENABLED: {{ .Values.worker.scheduler.enabled | toString | quote }}
{{- with .Values.tracing }}
{{- if .otlpEndpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ .otlpEndpoint | quote }}
OTEL_TRACES_SAMPLER: {{ .sampler | quote }}
OTEL_TRACES_SAMPLER_ARG: {{ include "umbrella.text" .samplerArg | quote }}
OTEL_PYTHON_AIOHTTP_SERVER_EXCLUDED_URLS: {{ .excludedUrls | quote }}
{{- with .resourceAttributes }}
OTEL_RESOURCE_ATTRIBUTES: {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The ConfigMap's data: config.env (an empty value is left out) and the chart's settings. */}}
{{- define "umbrella.configData" -}}
{{- range $key, $value := .Values.config.env }}
{{- if ne (toString $value) "" }}
{{ $key }}: {{ include "umbrella.text" $value | quote }}
{{- end }}
{{- end }}
{{ include "umbrella.chartSettings" . }}
{{- end -}}

{{/* The Secret's data (base64): secrets.env, an empty value left out. */}}
{{- define "umbrella.secretData" -}}
{{- range $key, $value := .Values.secrets.env }}
{{- if ne (toString $value) "" }}
{{ $key }}: {{ toString $value | b64enc | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Pod annotations that roll the pods when the settings or the chart's Secret change. */}}
{{- define "umbrella.checksums" -}}
checksum/config: {{ include "umbrella.configData" . | sha256sum }}
{{- if not .Values.secrets.existingSecret }}
checksum/secret: {{ include "umbrella.secretData" . | sha256sum }}
{{- end }}
{{- end -}}

{{- define "umbrella.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end -}}

{{/* envFrom of every container: the ConfigMap, then the Secret (its values win). */}}
{{- define "umbrella.envFrom" -}}
- configMapRef:
    name: {{ .configMap }}
- secretRef:
    name: {{ .secret }}
{{- end -}}

{{/*
Operator-supplied YAML (extraEnvVars, extraVolumes, sidecars…) rendered through `tpl`, so
it may refer to the release: include "umbrella.tplvalues" (dict "value" $list "ctx" $)
*/}}
{{- define "umbrella.tplvalues" -}}
{{- if kindIs "string" .value -}}
{{- tpl .value .ctx -}}
{{- else -}}
{{- tpl (toYaml .value) .ctx -}}
{{- end -}}
{{- end -}}

{{/*
A container of the Umbrella image: include "umbrella.container" (dict "ctx" $ "name" "api"
"args" (list "api") "resources" .Values.api.resources "spec" .Values.api "env" (list …)
"configMap" "<name>" "secret" "<name>"). `spec` is the component's values: its
extraEnvVars, extraEnvVarsCM, extraEnvVarsSecret and extraVolumeMounts; `env` is what the
chart sets for this component alone (it comes first, so extraEnvVars can override it).
*/}}
{{- define "umbrella.container" -}}
{{- $spec := .spec | default dict -}}
- name: {{ .name }}
  image: {{ include "umbrella.image" .ctx | quote }}
  imagePullPolicy: {{ .ctx.Values.image.pullPolicy }}
  args:
    {{- toYaml .args | nindent 4 }}
  envFrom:
    {{- include "umbrella.envFrom" (dict "configMap" (.configMap | default (include "umbrella.fullname" .ctx)) "secret" (.secret | default (include "umbrella.secretName" .ctx))) | nindent 4 }}
    {{- /* After ours, so a key of the operator's own ConfigMap or Secret wins. */}}
    {{- with $spec.extraEnvVarsCM }}
    - configMapRef:
        name: {{ tpl . $.ctx }}
    {{- end }}
    {{- with $spec.extraEnvVarsSecret }}
    - secretRef:
        name: {{ tpl . $.ctx }}
    {{- end }}
  {{- if or .env $spec.extraEnvVars }}
  env:
    {{- with .env }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- with $spec.extraEnvVars }}
    {{- include "umbrella.tplvalues" (dict "value" . "ctx" $.ctx) | nindent 4 }}
    {{- end }}
  {{- end }}
  securityContext:
    {{- toYaml .ctx.Values.containerSecurityContext | nindent 4 }}
  resources:
    {{- toYaml .resources | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
    {{- with $spec.extraVolumeMounts }}
    {{- include "umbrella.tplvalues" (dict "value" . "ctx" $.ctx) | nindent 4 }}
    {{- end }}
{{- end -}}

{{/* Sidecars of a component (its `sidecars` value), after its own container. */}}
{{- define "umbrella.sidecars" -}}
{{- with .spec.sidecars }}
{{- include "umbrella.tplvalues" (dict "value" . "ctx" $.ctx) }}
{{- end }}
{{- end -}}

{{/*
Labels of a component's pods: its podLabels, then the chart's own on top, so a pod label
can never take over a selector (app.kubernetes.io/name, instance, component).
*/}}
{{- define "umbrella.podLabels" -}}
{{- $own := include "umbrella.componentLabels" (dict "ctx" .ctx "component" .component) | fromYaml -}}
{{- $own = merge $own (.labels | default dict) -}}
{{- toYaml (merge $own (.spec.podLabels | default dict)) -}}
{{- end -}}

{{/* What every pod spec of the chart shares; `spec` (the component's values) adds its own. */}}
{{- define "umbrella.podCommon" -}}
{{- $spec := .spec | default dict -}}
serviceAccountName: {{ .serviceAccountName | default (include "umbrella.serviceAccountName" .ctx) }}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- include "umbrella.podSecurityContext" .ctx | nindent 2 }}
{{- with .ctx.Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- with $spec.priorityClassName | default .ctx.Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $spec.initContainers }}
initContainers:
  {{- include "umbrella.tplvalues" (dict "value" . "ctx" $.ctx) | nindent 2 }}
{{- end }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: {{ include "umbrella.text" .ctx.Values.tmpVolume.sizeLimit }}
  {{- with $spec.extraVolumes }}
  {{- include "umbrella.tplvalues" (dict "value" . "ctx" $.ctx) | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* The default spread of a component's pods: across zones, then nodes, best effort. */}}
{{- define "umbrella.topologySpread" -}}
{{- $selector := include "umbrella.componentSelectorLabels" (dict "ctx" .ctx "component" .component) | fromYaml -}}
{{- if .spec.topologySpreadConstraints -}}
{{- toYaml .spec.topologySpreadConstraints -}}
{{- else if .spec.topologySpread.enabled -}}
- maxSkew: 1
  topologyKey: topology.kubernetes.io/zone
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- toYaml $selector | nindent 6 }}
  matchLabelKeys:
    - pod-template-hash
  {{- with .spec.topologySpread.nodeAffinityPolicy }}
  nodeAffinityPolicy: {{ . }}
  {{- end }}
  {{- with .spec.topologySpread.nodeTaintsPolicy }}
  nodeTaintsPolicy: {{ . }}
  {{- end }}
- maxSkew: 1
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: {{ .spec.topologySpread.nodeWhenUnsatisfiable }}
  labelSelector:
    matchLabels:
      {{- toYaml $selector | nindent 6 }}
  matchLabelKeys:
    - pod-template-hash
  {{- /* Nodes the pods may not land on (tainted, or outside their affinity) are no domain to spread over. */}}
  {{- with .spec.topologySpread.nodeAffinityPolicy }}
  nodeAffinityPolicy: {{ . }}
  {{- end }}
  {{- with .spec.topologySpread.nodeTaintsPolicy }}
  nodeTaintsPolicy: {{ . }}
  {{- end }}
{{- end -}}
{{- end -}}

{{/* Scheduling knobs of one component (nodeSelector, tolerations, affinity, spread). */}}
{{- define "umbrella.scheduling" -}}
{{- with .spec.nodeSelector -}}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .spec.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .spec.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- $spread := include "umbrella.topologySpread" . }}
{{- if $spread }}
topologySpreadConstraints:
  {{- $spread | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Label selector of PromQL series scraped from this release's api and worker. */}}
{{- define "umbrella.promSelector" -}}
{{- if .Values.metrics.prometheusRule.selector -}}
{{- .Values.metrics.prometheusRule.selector -}}
{{- else -}}
{{- printf "namespace=%q,service=~%q" .Release.Namespace (printf "%s-(api|worker)" (include "umbrella.fullname" .)) -}}
{{- end -}}
{{- end -}}

{{/*
The api container's own environment (a YAML list), besides the ConfigMap and Secret. Behind
PgBouncer's transaction pooling a statement prepared on one server connection is missing
on the next: no statement cache (the worker, cron jobs and migrations go direct and keep it).
*/}}
{{- define "umbrella.apiEnv" -}}
{{- $env := list -}}
{{- if .Values.pgbouncer.enabled -}}
{{- $env = append $env (dict "name" "UMBRELLA_DB_STATEMENT_CACHE_SIZE" "value" "0") -}}
{{- end -}}
{{- toYaml $env -}}
{{- end -}}

{{/* The worker container's own environment (a YAML list). */}}
{{- define "umbrella.workerEnv" -}}
{{- $env := list -}}
{{- toYaml $env -}}
{{- end -}}

{{/*
The migration container's own environment (a YAML list): its bounds, derived from the Job's
deadline so that `umbrella migrate` gives up, rolls back and says why before Kubernetes
kills it (a killed pod leaves only "DeadlineExceeded"): a statement may take what is left of
the deadline after the longest wait for another run's lock, less 30 s for the start, the
connection and the rollback.
*/}}
{{- define "umbrella.migrateEnv" -}}
{{- $migrations := .Values.migrations -}}
{{- $budget := subf (float64 $migrations.activeDeadlineSeconds) 30 (float64 $migrations.lockWaitSeconds) -}}
{{- $env := list
  (dict "name" "UMBRELLA_MIGRATE_STATEMENT_TIMEOUT_MS" "value" (toString (int64 (mulf $budget 1000))))
  (dict "name" "UMBRELLA_MIGRATE_LOCK_TIMEOUT_MS" "value" (include "umbrella.text" $migrations.lockTimeoutMs))
  (dict "name" "UMBRELLA_MIGRATE_LOCK_WAIT_SECONDS" "value" (include "umbrella.text" $migrations.lockWaitSeconds))
-}}
{{- toYaml $env -}}
{{- end -}}

{{/*
Ports of the OTLP collector (a JSON list): networkPolicy.tracing.ports, else the port of
tracing.otlpEndpoint, else the scheme's (80 or 443).
*/}}
{{- define "umbrella.tracingPorts" -}}
{{- if .Values.networkPolicy.tracing.ports -}}
{{- toJson .Values.networkPolicy.tracing.ports -}}
{{- else -}}
{{- $url := urlParse .Values.tracing.otlpEndpoint -}}
{{- $port := regexFind "[0-9]+$" (regexFind ":[0-9]+$" $url.host) -}}
{{- if not $port -}}
{{- $port = ternary "443" "80" (eq $url.scheme "https") -}}
{{- end -}}
{{- toJson (list (atoi $port)) -}}
{{- end -}}
{{- end -}}

{{- define "umbrella.pgbouncerImage" -}}
{{- $image := .Values.pgbouncer.image -}}
{{- $repository := $image.repository -}}
{{- if $image.registry -}}
{{- $repository = printf "%s/%s" $image.registry $image.repository -}}
{{- end -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository $image.tag -}}
{{- end -}}
{{- end -}}

{{/*
pgbouncer.ini. Transaction pooling; the api's statement_timeout startup parameter is one
PgBouncer cannot carry, so it is ignored there and set again, with the settings the api
sends Postgres directly otherwise (core/db.py), by connect_query on every server connection.
*/}}
{{- define "umbrella.pgbouncerIni" -}}
{{- $pgb := .Values.pgbouncer -}}
{{- $upstream := $pgb.upstream -}}
{{- $timeout := .Values.config.env.UMBRELLA_DB_STATEMENT_TIMEOUT_MS | default 10000 -}}
{{- $connectQuery := printf "SET statement_timeout = %s; SET jit = off; SET max_parallel_workers_per_gather = 0" (include "umbrella.text" $timeout) -}}
[databases]
{{ $upstream.database }} = host={{ required "pgbouncer.upstream.host is required when pgbouncer.enabled" $upstream.host }} port={{ include "umbrella.text" $upstream.port }} dbname={{ $upstream.database }} connect_query='{{ $connectQuery }}'

[pgbouncer]
listen_addr = 0.0.0.0
listen_port = {{ include "umbrella.text" $pgb.port }}
; No unix socket: the root filesystem is read-only, and every client comes over TCP.
unix_socket_dir =
auth_type = scram-sha-256
auth_file = /etc/pgbouncer/auth/userlist.txt
pool_mode = transaction
ignore_startup_parameters = extra_float_digits,statement_timeout
default_pool_size = {{ include "umbrella.text" $pgb.defaultPoolSize }}
max_client_conn = {{ include "umbrella.text" $pgb.maxClientConnections }}
max_db_connections = {{ include "umbrella.text" $pgb.maxDbConnections }}
server_tls_sslmode = {{ $upstream.sslmode }}
{{- with $upstream.caFile }}
server_tls_ca_file = {{ . }}
{{- end }}
; Logs go to stderr.
log_connections = 0
log_disconnections = 0
{{- end -}}

{{/* The egress rule to DNS (CoreDNS, and NodeLocal DNSCache when on); nothing when off. */}}
{{- define "umbrella.dnsEgress" -}}
{{- if .dns.enabled -}}
{{- $resolvers := .dns.to -}}
{{- if .dns.nodeLocal.enabled -}}
{{- $resolvers = append $resolvers (dict "ipBlock" (dict "cidr" (printf "%s/32" .dns.nodeLocal.address))) -}}
{{- end -}}
- to:
    {{- toYaml $resolvers | nindent 4 }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end -}}
{{- end -}}
