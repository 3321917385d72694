{{/*
Named templates of the leaderboard chart; every name starts with "leaderboard.".
*/}}

{{- define "leaderboard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's resource-name prefix: <release>-<chart>, or the release alone if it already contains the chart name. */}}
{{- define "leaderboard.fullname" -}}
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

{{- define "leaderboard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Name of one component's resources: leaderboard.componentName (dict "root" $ "component" "ranker") */}}
{{- define "leaderboard.componentName" -}}
{{- printf "%s-%s" (include "leaderboard.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels of every resource; pass (dict "root" $ "component" "ranker"), component optional. */}}
{{- define "leaderboard.labels" -}}
helm.sh/chart: {{ include "leaderboard.chart" .root }}
{{ include "leaderboard.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: leaderboard
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels that select one component's pods. */}}
{{- define "leaderboard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "leaderboard.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{/* The image of a service: leaderboard.image (dict "root" $ "component" "ranker") */}}
{{- define "leaderboard.image" -}}
{{- $values := index .root.Values .component }}
{{- $tag := $values.image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion | toString }}
{{- if eq $tag "latest" }}
{{- fail (printf "%s.image.tag: pin a version, not latest" .component) }}
{{- end }}
{{- $repository := $values.image.repository }}
{{- with .root.Values.image.registry }}
{{- $repository = printf "%s/%s" (trimSuffix "/" .) $repository }}
{{- end }}
{{- printf "%s:%s" $repository $tag }}
{{- end }}

{{/* ---- Kafka ---- */}}

{{- define "leaderboard.kafka.clusterName" -}}
{{- default (include "leaderboard.fullname" .) .Values.kafka.clusterName | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "leaderboard.kafka.bootstrapServers" -}}
{{- if .Values.kafka.enabled }}
{{- printf "%s-kafka-bootstrap.%s.svc:9092" (include "leaderboard.kafka.clusterName" .) .Release.Namespace }}
{{- else }}
{{- required "externalKafka.bootstrapServers is required when kafka.enabled is false" .Values.externalKafka.bootstrapServers }}
{{- end }}
{{- end }}

{{/* ---- Redis (Bitnami subchart or external) ---- */}}

{{/* The Bitnami chart's common.names.fullname, evaluated from the parent chart. */}}
{{- define "leaderboard.redis.fullname" -}}
{{- if .Values.redis.fullnameOverride }}
{{- .Values.redis.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains "redis" .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-redis" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "leaderboard.redis.host" -}}
{{- if .Values.redis.enabled }}
{{- printf "%s-master.%s.svc" (include "leaderboard.redis.fullname" .) .Release.Namespace }}
{{- else }}
{{- required "externalRedis.host is required when redis.enabled is false" .Values.externalRedis.host }}
{{- end }}
{{- end }}

{{- define "leaderboard.redis.port" -}}
{{- if .Values.redis.enabled }}6379{{ else }}{{ .Values.externalRedis.port }}{{ end }}
{{- end }}

{{/* Secret and key of the Redis password; empty secret name: no password. */}}
{{- define "leaderboard.redis.secretName" -}}
{{- if .Values.redis.enabled }}
{{- if .Values.redis.auth.enabled }}{{ tpl .Values.redis.auth.existingSecret . }}{{ end }}
{{- else }}
{{- .Values.externalRedis.existingSecret }}
{{- end }}
{{- end }}

{{- define "leaderboard.redis.secretKey" -}}
{{- if .Values.redis.enabled }}{{ .Values.redis.auth.existingSecretPasswordKey }}{{ else }}{{ .Values.externalRedis.existingSecretPasswordKey }}{{ end }}
{{- end }}

{{/* ---- PostgreSQL (Bitnami subchart or external) ---- */}}

{{- define "leaderboard.postgresql.fullname" -}}
{{- if .Values.postgresql.fullnameOverride }}
{{- .Values.postgresql.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains "postgresql" .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-postgresql" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "leaderboard.postgresql.host" -}}
{{- if .Values.postgresql.enabled }}
{{- printf "%s.%s.svc" (include "leaderboard.postgresql.fullname" .) .Release.Namespace }}
{{- else }}
{{- required "externalPostgresql.host is required when postgresql.enabled is false" .Values.externalPostgresql.host }}
{{- end }}
{{- end }}

{{- define "leaderboard.postgresql.port" -}}
{{- if .Values.postgresql.enabled }}5432{{ else }}{{ .Values.externalPostgresql.port }}{{ end }}
{{- end }}

{{- define "leaderboard.postgresql.user" -}}
{{- if .Values.postgresql.enabled }}{{ .Values.postgresql.auth.username }}{{ else }}{{ .Values.externalPostgresql.user }}{{ end }}
{{- end }}

{{- define "leaderboard.postgresql.database" -}}
{{- if .Values.postgresql.enabled }}{{ .Values.postgresql.auth.database }}{{ else }}{{ .Values.externalPostgresql.database }}{{ end }}
{{- end }}

{{- define "leaderboard.postgresql.secretName" -}}
{{- if .Values.postgresql.enabled }}
{{- tpl .Values.postgresql.auth.existingSecret . }}
{{- else }}
{{- required "externalPostgresql.existingSecret is required when postgresql.enabled is false" .Values.externalPostgresql.existingSecret }}
{{- end }}
{{- end }}

{{- define "leaderboard.postgresql.secretKey" -}}
{{- if .Values.postgresql.enabled }}{{ .Values.postgresql.auth.secretKeys.userPasswordKey }}{{ else }}{{ .Values.externalPostgresql.existingSecretPasswordKey }}{{ end }}
{{- end }}

{{/* ---- Ingest API keys ---- */}}

{{- define "leaderboard.ingest.secretName" -}}
{{- default (include "leaderboard.componentName" (dict "root" . "component" "ingest-api-keys")) .Values.ingest.apiKeys.existingSecret }}
{{- end }}

{{- define "leaderboard.ingest.adminSecretName" -}}
{{- default (include "leaderboard.componentName" (dict "root" . "component" "ingest-admin-keys")) .Values.ingest.adminKeys.existingSecret }}
{{- end }}

{{/* ---- Pieces of pod specs ---- */}}

{{/* Environment of a service container: the shared ConfigMap, then its own settings. */}}
{{- define "leaderboard.env" -}}
{{- $root := .root -}}
{{- range $name, $value := $root.Values.extraEnv }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- range $name, $value := (index $root.Values .component).env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/* The Redis password variable, when Redis has one. */}}
{{- define "leaderboard.env.redisPassword" -}}
{{- $secret := include "leaderboard.redis.secretName" . }}
{{- if $secret }}
- name: LEADERBOARD_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ include "leaderboard.redis.secretKey" . }}
{{- end }}
{{- end }}

{{- define "leaderboard.env.postgresPassword" -}}
- name: LEADERBOARD_POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "leaderboard.postgresql.secretName" . }}
      key: {{ include "leaderboard.postgresql.secretKey" . }}
{{- end }}

{{/* Pod annotations that roll the pods when the configuration or the secrets change. */}}
{{- define "leaderboard.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secrets: {{ include (print .Template.BasePath "/secrets.yaml") . | sha256sum }}
{{- end }}

{{/* Volumes every service pod mounts: a writable /tmp (the root filesystem is read-only). */}}
{{- define "leaderboard.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end }}

{{- define "leaderboard.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{/* HTTP probes on a named port: leaderboard.probes (dict "root" $ "port" "metrics") */}}
{{- define "leaderboard.probes" -}}
livenessProbe:
  httpGet:
    path: /livez
    port: {{ .port }}
  {{- toYaml .root.Values.livenessProbe | nindent 2 }}
readinessProbe:
  httpGet:
    path: /readyz
    port: {{ .port }}
  {{- toYaml .root.Values.readinessProbe | nindent 2 }}
{{- end }}

{{/* Pod scheduling and pull secrets of a component. */}}
{{- define "leaderboard.podScheduling" -}}
{{- $values := index .root.Values .component }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Whether the archiver migrates at start: archiver.migrateOnStart, or by default only with the bundled PostgreSQL. */}}
{{- define "leaderboard.archiver.migrateOnStart" -}}
{{- if kindIs "bool" .Values.archiver.migrateOnStart }}{{ .Values.archiver.migrateOnStart }}{{ else }}{{ .Values.postgresql.enabled }}{{ end }}
{{- end }}

{{/* How many pods a component may run at most, to decide on a PodDisruptionBudget. */}}
{{- define "leaderboard.replicas" -}}
{{- $values := index .root.Values .component }}
{{- if and (hasKey $values "autoscaling") $values.autoscaling.enabled }}{{ $values.autoscaling.minReplicas }}{{ else }}{{ $values.replicaCount }}{{ end }}
{{- end }}

{{/* Egress rules of the services: DNS, then Kafka, Redis and PostgreSQL. */}}
{{- define "leaderboard.networkPolicy.egress" -}}
- ports:
    {{- range .Values.networkPolicy.dnsPorts }}
    - port: {{ . }}
      protocol: UDP
    - port: {{ . }}
      protocol: TCP
    {{- end }}
{{- if .Values.kafka.enabled }}
- to:
    - podSelector:
        matchLabels:
          strimzi.io/cluster: {{ include "leaderboard.kafka.clusterName" . }}
          strimzi.io/kind: Kafka
  ports:
    - port: 9092
      protocol: TCP
{{- else }}
- ports:
    {{- range (splitList "," .Values.externalKafka.bootstrapServers) }}
    - port: {{ (splitList ":" (trim .)) | last | int }}
      protocol: TCP
    {{- end }}
{{- end }}
{{- if .Values.redis.enabled }}
- to:
    - podSelector:
        matchLabels:
          app.kubernetes.io/name: redis
          app.kubernetes.io/instance: {{ .Release.Name }}
  ports:
    - port: 6379
      protocol: TCP
{{- else }}
- ports:
    - port: {{ .Values.externalRedis.port }}
      protocol: TCP
{{- end }}
{{- if .Values.postgresql.enabled }}
- to:
    - podSelector:
        matchLabels:
          app.kubernetes.io/name: postgresql
          app.kubernetes.io/instance: {{ .Release.Name }}
  ports:
    - port: 5432
      protocol: TCP
{{- else }}
- ports:
    - port: {{ .Values.externalPostgresql.port }}
      protocol: TCP
{{- end }}
{{- end }}
