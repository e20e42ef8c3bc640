{{/* Name of the chart, or nameOverride. */}}
{{- define "sealgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified name: the release name if it contains the chart name, else <release>-<chart>. It names
the Deployment, the Service, the ServiceAccount and the ValidatingWebhookConfiguration.
*/}}
{{- define "sealgate.fullname" -}}
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

{{- define "sealgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sealgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sealgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sealgate.labels" -}}
helm.sh/chart: {{ include "sealgate.chart" . }}
{{ include "sealgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sealgate
{{- end }}

{{/* The image: repository@digest when a digest is set, else repository:tag (tag defaults to appVersion). */}}
{{- define "sealgate.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Secret sealgate keeps its self-managed CA and serving certificate in (certs.mode=self). */}}
{{- define "sealgate.selfCertSecret" -}}
{{- printf "%s-webhook-cert" (include "sealgate.fullname" .) }}
{{- end }}

{{/* Secret holding the serving certificate when certificates come from outside sealgate. */}}
{{- define "sealgate.externalCertSecret" -}}
{{- if eq .Values.certs.mode "cert-manager" }}
{{- printf "%s-webhook-tls" (include "sealgate.fullname" .) }}
{{- else }}
{{- required "certs.secret.name is required when certs.mode=secret" .Values.certs.secret.name }}
{{- end }}
{{- end }}

{{/* Where sealgate reads (external) or writes (self) tls.crt and tls.key. */}}
{{- define "sealgate.certDir" -}}
/var/run/sealgate/certs
{{- end }}

{{/* Ports inside the pod. metricsPort serves HTTPS (metrics.secure); without it, /metrics stays on
loopback at localMetricsAddress. */}}
{{- define "sealgate.webhookPort" -}}9443{{- end }}
{{- define "sealgate.metricsPort" -}}8443{{- end }}
{{- define "sealgate.localMetricsAddress" -}}127.0.0.1:8080{{- end }}
{{- define "sealgate.healthPort" -}}8081{{- end }}

{{/* Where the client CA bundle (webhook.clientAuth.caBundle) is mounted. */}}
{{- define "sealgate.clientCADir" -}}/var/run/sealgate/client-ca{{- end }}

{{/*
Values this chart reads that an older chart did not have. `helm upgrade --reuse-values` renders with
the previous chart's defaults, so they would be missing (a nil pointer, or a silent choice). Included
by the templates that dereference them and by the Deployment; one failure stops the whole render.
*/}}
{{- define "sealgate.checkValuesComplete" -}}
{{- $v := .Values.AsMap -}}
{{- $m := "<missing>" -}}
{{- range $got := list
    (dig "networkPolicy" "enabled" $m $v) (dig "networkPolicy" "webhook" "from" $m $v)
    (dig "networkPolicy" "metrics" "from" $m $v) (dig "metrics" "secure" $m $v)
    (dig "webhook" "clientAuth" "caBundle" $m $v) (dig "audit" "enabled" $m $v)
    (dig "audit" "reportAPI" $m $v) (dig "audit" "installReportCRDs" $m $v) -}}
{{- if eq (toString $got) $m -}}
{{- fail "values lack networkPolicy, metrics.secure, webhook.clientAuth or audit, which this chart version adds: helm upgrade --reuse-values keeps the previous chart's defaults; upgrade with --reset-then-reuse-values (Helm 3.14 or later) instead" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Combinations of values the schema cannot reject, refused with what to change. Rendered (empty) by the
Deployment, so every install and upgrade runs it.
*/}}
{{- define "sealgate.checkMetrics" -}}
{{- $np := .Values.networkPolicy -}}
{{- if not .Values.metrics.secure -}}
{{- if .Values.metrics.serviceMonitor.enabled -}}
{{- fail "metrics.serviceMonitor.enabled needs metrics.secure=true: with metrics.secure=false, /metrics listens on the pod's loopback only, where Prometheus cannot reach it" -}}
{{- end -}}
{{- if and $np.enabled $np.metrics.from -}}
{{- fail "networkPolicy.metrics.from opens the metrics port, but metrics.secure=false keeps /metrics on the pod's loopback: set metrics.secure=true or remove the peers" -}}
{{- end -}}
{{- else if and .Values.metrics.serviceMonitor.enabled $np.enabled (not $np.metrics.from) -}}
{{- fail "metrics.serviceMonitor.enabled with networkPolicy.enabled: name Prometheus's pods in networkPolicy.metrics.from, or the network policy drops every scrape" -}}
{{- end -}}
{{- end -}}

{{/* clientConfig of one webhook: the URL (webhook.url) or the Service, plus the CA bundle if given. */}}
{{- define "sealgate.clientConfig" -}}
{{- if .root.Values.webhook.url }}
url: {{ printf "%s%s" .root.Values.webhook.url .path | quote }}
{{- else }}
service:
  namespace: {{ .root.Release.Namespace }}
  name: {{ include "sealgate.fullname" .root }}
  path: {{ .path }}
  port: 443
{{- end }}
{{- with .caBundle }}
caBundle: {{ . }}
{{- end }}
{{- end -}}

{{/*
"true" when obj (a live object from lookup) belongs to this release by Helm's own rule: the managed-by
label and the release name and namespace annotations. Helm adopts such an object; any other existing
object makes the install fail, so the chart must not render it.
*/}}
{{- define "sealgate.ownedByRelease" -}}
{{- $meta := .obj.metadata | default dict -}}
{{- $labels := $meta.labels | default dict -}}
{{- $annotations := $meta.annotations | default dict -}}
{{- if and (eq (get $labels "app.kubernetes.io/managed-by") "Helm")
    (eq (get $annotations "meta.helm.sh/release-name") .root.Release.Name)
    (eq (get $annotations "meta.helm.sh/release-namespace") .root.Release.Namespace) -}}
true
{{- end -}}
{{- end -}}
