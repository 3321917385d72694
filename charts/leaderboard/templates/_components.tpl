{{/*
The services of the chart. Each entry: the values key, the Python module the image runs,
the name of its HTTP port (workers serve /metrics, /livez and /readyz on "metrics"; the
web services serve everything on "http") and that port's number.
*/}}
{{- define "leaderboard.components" -}}
{{- $v := .Values -}}
simulator: {module: simulator, portName: metrics, port: {{ $v.simulator.metricsPort }}}
ingest: {module: ingest, portName: http, port: {{ $v.ingest.port }}}
ranker: {module: ranker, portName: metrics, port: {{ $v.ranker.metricsPort }}}
archiver: {module: archiver, portName: metrics, port: {{ $v.archiver.metricsPort }}}
publisher: {module: publisher, portName: metrics, port: {{ $v.publisher.metricsPort }}}
gateway: {module: gateway, portName: http, port: {{ $v.gateway.port }}}
{{- end }}

{{/* Each service's own settings (non-secret first, then secrets from Secrets). */}}
{{- define "leaderboard.componentEnv.simulator" -}}
- name: LEADERBOARD_METRICS_PORT
  value: {{ .Values.simulator.metricsPort | quote }}
- name: LEADERBOARD_SIMULATOR_RATE
  value: {{ .Values.simulator.rate | quote }}
- name: LEADERBOARD_SIMULATOR_PLAYERS
  value: {{ .Values.simulator.players | quote }}
- name: LEADERBOARD_SIMULATOR_LEADERBOARDS
  value: {{ .Values.simulator.leaderboards | quote }}
{{- end }}

{{- define "leaderboard.componentEnv.ingest" -}}
- name: LEADERBOARD_INGEST_HOST
  value: "0.0.0.0"
- name: LEADERBOARD_INGEST_PORT
  value: {{ .Values.ingest.port | quote }}
- name: LEADERBOARD_INGEST_API_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ include "leaderboard.ingest.secretName" . }}
      key: {{ .Values.ingest.apiKeys.existingSecretKey }}
{{- end }}

{{- define "leaderboard.componentEnv.ranker" -}}
- name: LEADERBOARD_METRICS_PORT
  value: {{ .Values.ranker.metricsPort | quote }}
- name: LEADERBOARD_RANKER_GROUP_ID
  value: {{ .Values.ranker.groupId | quote }}
{{- include "leaderboard.env.redisPassword" . }}
{{- end }}

{{- define "leaderboard.componentEnv.archiver" -}}
- name: LEADERBOARD_METRICS_PORT
  value: {{ .Values.archiver.metricsPort | quote }}
- name: LEADERBOARD_ARCHIVER_GROUP_ID
  value: {{ .Values.archiver.groupId | quote }}
- name: LEADERBOARD_ARCHIVER_MIGRATE_ON_START
  value: {{ include "leaderboard.archiver.migrateOnStart" . | quote }}
{{ include "leaderboard.env.postgresPassword" . }}
{{- end }}

{{- define "leaderboard.componentEnv.publisher" -}}
- name: LEADERBOARD_METRICS_PORT
  value: {{ .Values.publisher.metricsPort | quote }}
- name: LEADERBOARD_PUBLISHER_GROUP_ID
  value: {{ .Values.publisher.groupId | quote }}
- name: LEADERBOARD_PUBLISHER_TOP_N
  value: {{ .Values.publisher.topN | quote }}
{{- include "leaderboard.env.redisPassword" . }}
{{- end }}

{{- define "leaderboard.componentEnv.gateway" -}}
- name: LEADERBOARD_GATEWAY_HOST
  value: "0.0.0.0"
- name: LEADERBOARD_GATEWAY_PORT
  value: {{ .Values.gateway.port | quote }}
- name: LEADERBOARD_GATEWAY_ALLOWED_ORIGINS
  value: {{ .Values.gateway.allowedOrigins | quote }}
- name: LEADERBOARD_GATEWAY_ALLOW_LOOPBACK_ORIGINS
  value: {{ .Values.gateway.allowLoopbackOrigins | quote }}
- name: LEADERBOARD_GATEWAY_FORWARDED_ALLOW_IPS
  value: {{ .Values.gateway.forwardedAllowIps | quote }}
{{- include "leaderboard.env.redisPassword" . }}
{{- end }}
