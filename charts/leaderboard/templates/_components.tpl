{{/*
The services of the chart. Each entry: the values key, the Python module the image runs,
the name of its one HTTP port (workers serve /metrics, /livez and /readyz on "metrics"; the
web services serve everything on "http") and that port's number, `<component>.port`,
which the Deployment passes as LEADERBOARD_HTTP_PORT.
*/}}
{{- define "leaderboard.components" -}}
{{- $v := .Values -}}
simulator: {module: simulator, portName: metrics, port: {{ $v.simulator.port }}}
ingest: {module: ingest, portName: http, port: {{ $v.ingest.port }}}
ranker: {module: ranker, portName: metrics, port: {{ $v.ranker.port }}}
archiver: {module: archiver, portName: metrics, port: {{ $v.archiver.port }}}
publisher: {module: publisher, portName: metrics, port: {{ $v.publisher.port }}}
closer: {module: closer, portName: metrics, port: {{ $v.closer.port }}}
gateway: {module: gateway, portName: http, port: {{ $v.gateway.port }}}
{{- end }}

{{/* Each service's own settings (non-secret first, then secrets from Secrets). */}}
{{- define "leaderboard.componentEnv.simulator" -}}
- name: LEADERBOARD_SIMULATOR_RATE
  value: {{ .Values.simulator.rate | quote }}
- name: LEADERBOARD_SIMULATOR_PLAYERS
  value: {{ .Values.simulator.players | quote }}
- name: LEADERBOARD_SIMULATOR_LEADERBOARDS
  value: {{ .Values.simulator.leaderboards | quote }}
{{- end }}

{{- define "leaderboard.componentEnv.ingest" -}}
- name: LEADERBOARD_INGEST_API_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ include "leaderboard.ingest.secretName" . }}
      key: {{ .Values.ingest.apiKeys.existingSecretKey }}
- name: LEADERBOARD_INGEST_ADMIN_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ include "leaderboard.ingest.adminSecretName" . }}
      key: {{ .Values.ingest.adminKeys.existingSecretKey }}
{{/* Board definitions live in the archive database (the migration hook creates them);
the admin API also resets and moderates the standings in Redis. */}}
{{ include "leaderboard.env.postgresPassword" . }}
{{- include "leaderboard.env.redisPassword" . }}
{{- end }}

{{- define "leaderboard.componentEnv.ranker" -}}
- name: LEADERBOARD_RANKER_GROUP_ID
  value: {{ .Values.ranker.groupId | quote }}
{{- include "leaderboard.env.redisPassword" . }}
{{- end }}

{{- define "leaderboard.componentEnv.archiver" -}}
- name: LEADERBOARD_ARCHIVER_GROUP_ID
  value: {{ .Values.archiver.groupId | quote }}
- name: LEADERBOARD_ARCHIVER_MIGRATE_ON_START
  value: {{ include "leaderboard.archiver.migrateOnStart" . | quote }}
{{ include "leaderboard.env.postgresPassword" . }}
{{- end }}

{{- define "leaderboard.componentEnv.publisher" -}}
- name: LEADERBOARD_PUBLISHER_GROUP_ID
  value: {{ .Values.publisher.groupId | quote }}
- name: LEADERBOARD_PUBLISHER_TOP_N
  value: {{ .Values.publisher.topN | quote }}
{{- include "leaderboard.env.redisPassword" . }}
{{- end }}

{{/* The closer waits for the rankers' group (their offsets in Redis) and stores closed
periods in the archive database: always the ranker's own group id. */}}
{{- define "leaderboard.componentEnv.closer" -}}
- name: LEADERBOARD_CLOSER_RANKER_GROUP_ID
  value: {{ .Values.ranker.groupId | quote }}
{{ include "leaderboard.env.postgresPassword" . }}
{{- include "leaderboard.env.redisPassword" . }}
{{- end }}

{{- define "leaderboard.componentEnv.gateway" -}}
- name: LEADERBOARD_GATEWAY_ALLOWED_ORIGINS
  value: {{ .Values.gateway.allowedOrigins | quote }}
- name: LEADERBOARD_GATEWAY_ALLOW_LOOPBACK_ORIGINS
  value: {{ .Values.gateway.allowLoopbackOrigins | quote }}
- name: LEADERBOARD_GATEWAY_FORWARDED_ALLOW_IPS
  value: {{ .Values.gateway.forwardedAllowIps | quote }}
{{/* Closed periods' final standings live in the archive database. */}}
{{ include "leaderboard.env.postgresPassword" . }}
{{- include "leaderboard.env.redisPassword" . }}
{{- end }}

{{/*
The settings of one component from the table above:
leaderboard.componentSpec (dict "root" $ "component" "ranker") | fromYaml
*/}}
{{- define "leaderboard.componentSpec" -}}
{{- $spec := index (include "leaderboard.components" .root | fromYaml) .component }}
{{- if not $spec }}
{{- fail (printf "unknown component %q" .component) }}
{{- end }}
{{- toYaml $spec }}
{{- end }}

{{/*
==== The shapes of a component's resources ====
Each templates/<component>/<kind>.yaml is one include of these, e.g.
{{ include "leaderboard.deployment" (dict "root" . "component" "ranker") }}
and renders nothing while the component (or the feature) is off.
*/}}

{{/* The component's Deployment. */}}
{{- define "leaderboard.deployment" -}}
{{- $root := .root }}
{{- $component := .component }}
{{- $spec := include "leaderboard.componentSpec" . | fromYaml }}
{{- $values := index $root.Values $component }}
{{- if $values.enabled }}
{{- $ctx := dict "root" $root "component" $component }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "leaderboard.componentName" $ctx }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "leaderboard.labels" $ctx | nindent 4 }}
spec:
  {{- if not (and (hasKey $values "autoscaling") $values.autoscaling.enabled) }}
  replicas: {{ $values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "leaderboard.selectorLabels" $ctx | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "leaderboard.labels" $ctx | nindent 8 }}
      annotations:
        {{- include "leaderboard.checksums" $root | nindent 8 }}
        {{- with $values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: {{ $root.Values.terminationGracePeriodSeconds }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      {{- with (include "leaderboard.podScheduling" $ctx) }}
      {{- . | trim | nindent 6 }}
      {{- end }}
      containers:
        - name: {{ $component }}
          image: {{ include "leaderboard.image" $ctx }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          ports:
            - name: {{ $spec.portName }}
              containerPort: {{ $spec.port }}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ include "leaderboard.componentName" (dict "root" $root "component" "env") }}
          env:
            - name: LEADERBOARD_HTTP_PORT
              value: {{ $spec.port | quote }}
            {{- include "leaderboard.env" $ctx | nindent 12 }}
            {{- include (printf "leaderboard.componentEnv.%s" $component) $root | nindent 12 }}
          {{- include "leaderboard.probes" (dict "root" $root "port" $spec.portName) | nindent 10 }}
          resources:
            {{- toYaml $values.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.containerSecurityContext | nindent 12 }}
          volumeMounts:
            {{- include "leaderboard.volumeMounts" $root | nindent 12 }}
      volumes:
        {{- include "leaderboard.volumes" $root | nindent 8 }}
{{- end }}
{{- end }}

{{/* The component's Service: the web port for gateway and ingest, the metrics port for workers. */}}
{{- define "leaderboard.service" -}}
{{- $root := .root }}
{{- $spec := include "leaderboard.componentSpec" . | fromYaml }}
{{- $values := index $root.Values .component }}
{{- if $values.enabled }}
{{- $ctx := dict "root" $root "component" .component }}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "leaderboard.componentName" $ctx }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "leaderboard.labels" $ctx | nindent 4 }}
spec:
  type: {{ if hasKey $values "service" }}{{ $values.service.type }}{{ else }}ClusterIP{{ end }}
  selector:
    {{- include "leaderboard.selectorLabels" $ctx | nindent 4 }}
  ports:
    - name: {{ $spec.portName }}
      port: {{ if hasKey $values "service" }}{{ $values.service.port }}{{ else }}{{ $spec.port }}{{ end }}
      targetPort: {{ $spec.portName }}
      protocol: TCP
{{- end }}
{{- end }}

{{/* The component's ServiceMonitor, on the Service port that serves /metrics. */}}
{{- define "leaderboard.serviceMonitor" -}}
{{- $root := .root }}
{{- $spec := include "leaderboard.componentSpec" . | fromYaml }}
{{- if and $root.Values.monitoring.serviceMonitors.enabled (index $root.Values .component).enabled }}
{{- $ctx := dict "root" $root "component" .component }}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "leaderboard.componentName" $ctx }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "leaderboard.labels" $ctx | nindent 4 }}
    {{- with $root.Values.monitoring.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "leaderboard.selectorLabels" $ctx | nindent 6 }}
  endpoints:
    - port: {{ $spec.portName }}
      path: /metrics
      interval: {{ $root.Values.monitoring.serviceMonitors.interval }}
      scrapeTimeout: {{ $root.Values.monitoring.serviceMonitors.scrapeTimeout }}
{{- end }}
{{- end }}

{{/* The component's PodDisruptionBudget, when it runs more than one pod. */}}
{{- define "leaderboard.pdb" -}}
{{- $root := .root }}
{{- $values := index $root.Values .component }}
{{- $ctx := dict "root" $root "component" .component }}
{{- if and $values.enabled (gt (int (include "leaderboard.replicas" $ctx)) 1) }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "leaderboard.componentName" $ctx }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "leaderboard.labels" $ctx | nindent 4 }}
spec:
  minAvailable: {{ $values.pdb.minAvailable }}
  selector:
    matchLabels:
      {{- include "leaderboard.selectorLabels" $ctx | nindent 6 }}
{{- end }}
{{- end }}

{{/* The component's optional HorizontalPodAutoscaler (components with `autoscaling` values: gateway and ranker). */}}
{{- define "leaderboard.hpa" -}}
{{- $root := .root }}
{{- $values := index $root.Values .component }}
{{- if and $values.enabled (hasKey $values "autoscaling") $values.autoscaling.enabled }}
{{- $ctx := dict "root" $root "component" .component }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "leaderboard.componentName" $ctx }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "leaderboard.labels" $ctx | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "leaderboard.componentName" $ctx }}
  minReplicas: {{ $values.autoscaling.minReplicas }}
  maxReplicas: {{ $values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $values.autoscaling.targetCPUUtilizationPercentage }}
{{- end }}
{{- end }}

{{/*
The component's NetworkPolicy. Ingress: the gateway's port from the ingress controller's
namespace and this release's pods (the helm test); the ingest API's port from this
release's pods and networkPolicy.ingestClients; every service's metrics port from the
monitoring namespace. With restrictEgress, pods may only reach DNS, Kafka, Redis and
PostgreSQL (an external Redis or PostgreSQL by its port, since its address is not a pod).
*/}}
{{- define "leaderboard.networkPolicy" -}}
{{- $root := .root }}
{{- $component := .component }}
{{- $spec := include "leaderboard.componentSpec" . | fromYaml }}
{{- $values := index $root.Values $component }}
{{- $np := $root.Values.networkPolicy }}
{{- if and $np.enabled $values.enabled }}
{{- $releasePods := dict "podSelector" (dict "matchLabels" (dict "app.kubernetes.io/instance" $root.Release.Name)) }}
{{- $monitoring := dict "namespaceSelector" $np.monitoringNamespaceSelector }}
{{- $ingressController := dict "namespaceSelector" $np.ingressControllerNamespaceSelector }}
{{- $ctx := dict "root" $root "component" $component }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "leaderboard.componentName" $ctx }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "leaderboard.labels" $ctx | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "leaderboard.selectorLabels" $ctx | nindent 6 }}
  policyTypes:
    - Ingress
    {{- if $np.restrictEgress }}
    - Egress
    {{- end }}
  ingress:
    {{- if eq $component "gateway" }}
    - from:
        - {{ toYaml $ingressController | nindent 10 | trim }}
        - {{ toYaml $releasePods | nindent 10 | trim }}
        - {{ toYaml $monitoring | nindent 10 | trim }}
      ports:
        - port: {{ $spec.portName }}
          protocol: TCP
    {{- else if eq $component "ingest" }}
    - from:
        - {{ toYaml $releasePods | nindent 10 | trim }}
        - {{ toYaml $monitoring | nindent 10 | trim }}
        {{- if $values.exposeViaIngress }}
        - {{ toYaml $ingressController | nindent 10 | trim }}
        {{- end }}
        {{- with $np.ingestClients }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - port: {{ $spec.portName }}
          protocol: TCP
    {{- else }}
    - from:
        - {{ toYaml $monitoring | nindent 10 | trim }}
      ports:
        - port: {{ $spec.portName }}
          protocol: TCP
    {{- end }}
  {{- if $np.restrictEgress }}
  egress:
    {{- include "leaderboard.networkPolicy.egress" $root | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}
