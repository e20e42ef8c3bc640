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

{{/* Ports inside the pod. */}}
{{- define "sealgate.webhookPort" -}}9443{{- end }}
{{- define "sealgate.metricsPort" -}}8080{{- end }}
{{- define "sealgate.healthPort" -}}8081{{- end }}

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
