{{/*
Named helpers of the orderflow chart.

# Layout
- names and labels: `orderflow.fullname`, `orderflow.labels`, `orderflow.selectorLabels`
- `orderflow.services`: the one table of the three services (key, name, settings prefix);
  every per-service template ranges over it instead of repeating itself.
- `orderflow.service`: Deployment + Service + ServiceAccount of one service.
- `orderflow.podSecurityContext` / `orderflow.containerSecurityContext`: the restricted Pod
  Security profile, used by every Pod the chart makes.
- `orderflow.kafkaBootstrap`, `orderflow.registryUrl`, `orderflow.databaseSecret`: where
  the infrastructure is, external or the dev profile's.
- `orderflow.kafkaSecurity`: checks `kafka.security` (the services' typed Kafka security
  settings) and names the value that is wrong; `orderflow.kafkaSasl`: whether it logs in.
*/}}

{{- define "orderflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "orderflow.fullname" -}}
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

{{/* The name of one component's objects: `<fullname>-<component>`. Call with (list $ "order-service"). */}}
{{- define "orderflow.componentName" -}}
{{- $root := index . 0 }}
{{- printf "%s-%s" (include "orderflow.fullname" $root) (index . 1) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "orderflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of one component. Call with (list $ "order-service"). */}}
{{- define "orderflow.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "orderflow.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* All labels of one component's objects. Call with (list $ "order-service"). */}}
{{- define "orderflow.labels" -}}
{{- $root := index . 0 -}}
{{ include "orderflow.selectorLabels" . }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: orderflow
helm.sh/chart: {{ include "orderflow.chart" $root }}
{{- with $root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The three services as YAML: key (the values block), name (image and objects), prefix (their
own settings' environment prefix).
*/}}
{{- define "orderflow.services" -}}
- {key: order, name: order-service, prefix: ORDER}
- {key: payment, name: payment-service, prefix: PAYMENT}
- {key: shipping, name: shipping-service, prefix: SHIPPING}
{{- end }}

{{/*
The topics the Job creates, one "name partitions" per line: the contract topics and the
consumer groups' dead-letter topics.
*/}}
{{- define "orderflow.topics" -}}
{{- $ns := .Values.kafka.namespace }}
{{- range list "orders" "payments" "shipments" }}
{{ printf "%s%s" $ns . }} {{ $.Values.topics.partitions }} {{ int64 $.Values.topics.retentionMs }}
{{- end }}
{{- range list "order-service" "order-status-projector" "payment-service" "shipping-service" }}
{{ printf "%s%s.dlq" $ns . }} {{ $.Values.topics.deadLetterPartitions }} {{ int64 $.Values.topics.deadLetterRetentionMs }}
{{- end }}
{{- end }}

{{/* topics.config as `key=value key=value`. */}}
{{- define "orderflow.topicConfigs" -}}
{{- $configs := list }}
{{- range $k, $v := .Values.topics.config }}
{{- $configs = append $configs (printf "%s=%v" $k $v) }}
{{- end }}
{{- join " " $configs }}
{{- end }}

{{/* The dev profile's init container script: waits until every topic exists. */}}
{{- define "orderflow.waitForTopicsScript" -}}
kafka=/opt/kafka/bin/kafka-topics.sh
while true; do
  present=$("$kafka" --bootstrap-server {{ include "orderflow.kafkaBootstrap" . | quote }} --list 2>/dev/null || true)
  missing=""
  for topic in {{ range $line := include "orderflow.topics" . | trim | splitList "\n" }}{{ splitList " " $line | first }} {{ end }}; do
    grep -qx "$topic" <<<"$present" || missing="$missing $topic"
  done
  [ -z "$missing" ] && exit 0
  echo "waiting for topics:$missing"
  sleep 3
done
{{- end }}

{{/* An image reference from {repository, tag}: tag pinned by the values. */}}
{{- define "orderflow.image" -}}
{{- printf "%s:%s" .repository .tag }}
{{- end }}

{{/* The image of one service. Call with (list $ "order-service"). */}}
{{- define "orderflow.serviceImage" -}}
{{- $root := index . 0 }}
{{- $i := $root.Values.image }}
{{- $repo := printf "%s%s/%s" $i.registry $i.repository (index . 1) }}
{{- if $i.digest }}
{{- printf "%s@%s" $repo $i.digest }}
{{- else }}
{{- printf "%s:%s" $repo (default $root.Chart.AppVersion $i.tag) }}
{{- end }}
{{- end }}

{{/* The restricted Pod Security profile. Call with the numeric user id. */}}
{{- define "orderflow.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
fsGroup: {{ . }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Call with whether the root filesystem is read-only (true but for the dev Kafka). */}}
{{- define "orderflow.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: {{ . }}
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "orderflow.kafkaBootstrap" -}}
{{- if .Values.dev.enabled }}
{{- printf "%s:9092" (include "orderflow.componentName" (list . "kafka")) }}
{{- else }}
{{- required "kafka.bootstrapServers is required (or set dev.enabled=true)" .Values.kafka.bootstrapServers }}
{{- end }}
{{- end }}

{{- define "orderflow.registryUrl" -}}
{{- if .Values.dev.enabled }}
{{- printf "http://%s:8080/apis/ccompat/v7" (include "orderflow.componentName" (list . "registry")) }}
{{- else }}
{{- required "registry.url is required (or set dev.enabled=true)" .Values.registry.url }}
{{- end }}
{{- end }}

{{/* Whether the services log in to Kafka (a SASL protocol): "true" or "". */}}
{{- define "orderflow.kafkaSasl" -}}
{{- if hasPrefix "SASL_" .Values.kafka.security.protocol }}true{{ end }}
{{- end }}

{{/*
Checks `kafka.security` as the services would at start, so a wrong value fails the install
with its name instead of Pods that never get ready. Renders nothing.
*/}}
{{- define "orderflow.kafkaSecurity" -}}
{{- $sec := .Values.kafka.security }}
{{- if and .Values.dev.enabled (ne $sec.protocol "PLAINTEXT") }}
{{- fail "kafka.security applies to your own Kafka: the dev profile's broker is PLAINTEXT" }}
{{- end }}
{{- if and $sec.caSecret.name (not (has $sec.protocol (list "SSL" "SASL_SSL"))) }}
{{- fail (printf "kafka.security.caSecret needs kafka.security.protocol SSL or SASL_SSL, not %s" $sec.protocol) }}
{{- end }}
{{- range $svc := include "orderflow.services" . | fromYamlArray }}
{{- $key := $svc.key }}
{{- $user := index $sec.users $key }}
{{- if include "orderflow.kafkaSasl" $ }}
{{- if not $user.username }}
{{- fail (printf "kafka.security.users.%s.username is required with kafka.security.protocol %s" $key $sec.protocol) }}
{{- end }}
{{- if not $user.passwordSecret.name }}
{{- fail (printf "kafka.security.users.%s.passwordSecret.name is required with kafka.security.protocol %s" $key $sec.protocol) }}
{{- end }}
{{- else if or $user.username $user.passwordSecret.name }}
{{- fail (printf "kafka.security.users.%s needs kafka.security.protocol SASL_SSL or SASL_PLAINTEXT, not %s" $key $sec.protocol) }}
{{- end }}
{{- end }}
{{- end }}

{{/* The Secret with the database URLs: the operator's, or the dev profile's own. */}}
{{- define "orderflow.databaseSecret" -}}
{{- if .Values.dev.enabled }}
{{- include "orderflow.componentName" (list . "dev-credentials") }}
{{- else }}
{{- required "database.existingSecret is required (or set dev.enabled=true)" .Values.database.existingSecret }}
{{- end }}
{{- end }}

{{/* The settings file mounted into every service: librdkafka properties. */}}
{{- define "orderflow.settingsFile" -}}
{{- if .Values.kafka.propertiesSecret.name }}
{{- .Values.kafka.propertiesSecret.key }}
{{- else }}
{{- "orderflow.toml" }}
{{- end }}
{{- end }}

{{/* Startup, liveness and readiness probes of a service. */}}
{{- define "orderflow.probes" -}}
{{- $p := .Values.probes -}}
startupProbe:
  httpGet: {path: /health/live, port: http}
  {{- toYaml $p.startup | nindent 2 }}
livenessProbe:
  httpGet: {path: /health/live, port: http}
  {{- toYaml $p.liveness | nindent 2 }}
readinessProbe:
  httpGet: {path: /health/ready, port: http}
  {{- toYaml $p.readiness | nindent 2 }}
{{- end }}

{{/*
One service: ServiceAccount, Service and Deployment. Call with (list $ $svc) where $svc is
an entry of `orderflow.services`.
*/}}
{{- define "orderflow.service" -}}
{{- $root := index . 0 }}
{{- $svc := index . 1 }}
{{- $v := index $root.Values.services $svc.key }}
{{- $name := include "orderflow.componentName" (list $root $svc.name) }}
{{- $ctx := list $root $svc.name }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ $name }}
  labels:
    {{- include "orderflow.labels" $ctx | nindent 4 }}
# The services never call the Kubernetes API.
automountServiceAccountToken: false
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  labels:
    {{- include "orderflow.labels" $ctx | nindent 4 }}
{{- $expose := $v.service | default dict }}
spec:
  type: {{ $expose.type | default "ClusterIP" }}
  selector:
    {{- include "orderflow.selectorLabels" $ctx | nindent 4 }}
  ports:
    - name: http
      port: {{ $root.Values.httpPort }}
      targetPort: http
      protocol: TCP
      {{- if and (eq ($expose.type | default "") "NodePort") $expose.nodePort }}
      nodePort: {{ $expose.nodePort }}
      {{- end }}
    {{- if eq $svc.key "order" }}
    - name: grpc
      port: {{ $root.Values.grpcPort }}
      targetPort: grpc
      protocol: TCP
      appProtocol: grpc
    {{- end }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  labels:
    {{- include "orderflow.labels" $ctx | nindent 4 }}
spec:
  {{- /* An HorizontalPodAutoscaler, when there is one, owns the count. */}}
  {{- if not (and $root.Values.autoscaling.enabled ($root.Capabilities.APIVersions.Has "autoscaling/v2")) }}
  replicas: {{ $v.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "orderflow.selectorLabels" $ctx | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels:
        {{- include "orderflow.labels" $ctx | nindent 8 }}
      annotations:
        # A change of settings or credentials rolls the Pods.
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        {{- if $root.Values.dev.enabled }}
        checksum/dev-credentials: {{ include (print $root.Template.BasePath "/dev/credentials.yaml") $root | sha256sum }}
        {{- end }}
    spec:
      serviceAccountName: {{ $name }}
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: {{ $root.Values.terminationGracePeriodSeconds }}
      securityContext:
        {{- include "orderflow.podSecurityContext" $root.Values.runAsUser | nindent 8 }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      topologySpreadConstraints:
        - maxSkew: {{ $root.Values.topologySpread.maxSkew }}
          topologyKey: {{ $root.Values.topologySpread.topologyKey }}
          whenUnsatisfiable: {{ $root.Values.topologySpread.whenUnsatisfiable }}
          labelSelector:
            matchLabels:
              {{- include "orderflow.selectorLabels" $ctx | nindent 14 }}
      {{- if $root.Values.dev.enabled }}
      initContainers:
        # The dev profile's Kafka starts with the release, so its topics (created by the
        # topic Job once the broker answers) may not exist yet: wait for them rather than
        # subscribe to topics that are not there.
        - name: wait-for-topics
          image: {{ include "orderflow.image" $root.Values.topics.image }}
          imagePullPolicy: IfNotPresent
          command:
            - /bin/bash
            - -ec
            - |
              {{- include "orderflow.waitForTopicsScript" $root | nindent 14 }}
          env:
            - {name: LOG_DIR, value: /tmp}
          securityContext:
            {{- include "orderflow.containerSecurityContext" true | nindent 12 }}
          resources:
            {{- toYaml $root.Values.topics.resources | nindent 12 }}
          volumeMounts:
            - {name: tmp, mountPath: /tmp}
      {{- end }}
      containers:
        - name: {{ $svc.name }}
          image: {{ include "orderflow.serviceImage" $ctx }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          ports:
            - {name: http, containerPort: {{ $root.Values.httpPort }}, protocol: TCP}
            {{- if eq $svc.key "order" }}
            - {name: grpc, containerPort: {{ $root.Values.grpcPort }}, protocol: TCP}
            {{- end }}
          envFrom:
            - configMapRef:
                name: {{ include "orderflow.componentName" (list $root "config") }}
          env:
            - {name: {{ $svc.prefix }}__HTTP__HOST, value: "0.0.0.0"}
            - {name: {{ $svc.prefix }}__HTTP__PORT, value: {{ $root.Values.httpPort | quote }}}
            {{- if eq $svc.key "order" }}
            - {name: ORDER__GRPC__HOST, value: "0.0.0.0"}
            - {name: ORDER__GRPC__PORT, value: {{ $root.Values.grpcPort | quote }}}
            {{- end }}
            - {name: {{ $svc.prefix }}_CONFIG, value: /etc/orderflow/{{ include "orderflow.settingsFile" $root }}}
            - {name: OTEL_SERVICE_NAME, value: {{ $svc.name }}}
            - name: {{ $svc.prefix }}__DATABASE__URL
              valueFrom:
                secretKeyRef:
                  name: {{ include "orderflow.databaseSecret" $root }}
                  key: {{ index $root.Values.database.secretKeys $svc.key }}
            {{- if include "orderflow.kafkaSasl" $root }}
            {{- $user := index $root.Values.kafka.security.users $svc.key }}
            - {name: {{ $svc.prefix }}__KAFKA__SASL_USERNAME, value: {{ $user.username | quote }}}
            - {name: {{ $svc.prefix }}__KAFKA__SASL_PASSWORD_FILE, value: /etc/orderflow-kafka/password/{{ $user.passwordSecret.key }}}
            {{- end }}
            {{- if eq $svc.key "payment" }}
            - {name: PAYMENT__LIMIT_CENTS, value: {{ $v.limitCents | int64 | quote }}}
            {{- end }}
            {{- with $v.env }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- include "orderflow.probes" $root | nindent 10 }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- include "orderflow.containerSecurityContext" true | nindent 12 }}
          volumeMounts:
            - {name: tmp, mountPath: /tmp}
            - {name: settings, mountPath: /etc/orderflow, readOnly: true}
            {{- if include "orderflow.kafkaSasl" $root }}
            - {name: kafka-password, mountPath: /etc/orderflow-kafka/password, readOnly: true}
            {{- end }}
            {{- if $root.Values.kafka.security.caSecret.name }}
            - {name: kafka-ca, mountPath: /etc/orderflow-kafka/ca, readOnly: true}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir: {sizeLimit: 64Mi}
        - name: settings
          {{- if $root.Values.kafka.propertiesSecret.name }}
          secret:
            secretName: {{ $root.Values.kafka.propertiesSecret.name }}
            items: [{key: {{ $root.Values.kafka.propertiesSecret.key }}, path: {{ $root.Values.kafka.propertiesSecret.key }}}]
          {{- else }}
          configMap:
            name: {{ include "orderflow.componentName" (list $root "settings") }}
          {{- end }}
        {{- if include "orderflow.kafkaSasl" $root }}
        {{- $password := (index $root.Values.kafka.security.users $svc.key).passwordSecret }}
        # Only this service's password: readable by the service's group (fsGroup), no one else.
        - name: kafka-password
          secret:
            secretName: {{ $password.name }}
            items: [{key: {{ $password.key }}, path: {{ $password.key }}}]
            defaultMode: 0440
        {{- end }}
        {{- with $root.Values.kafka.security.caSecret }}
        {{- if .name }}
        - name: kafka-ca
          secret:
            secretName: {{ .name }}
            items: [{key: {{ .key }}, path: {{ .key }}}]
            defaultMode: 0444
        {{- end }}
        {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
