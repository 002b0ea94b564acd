{{/* The release's base name; every object is named after it. */}}
{{- define "inboxchat-operator.fullname" -}}
{{- .Values.fullnameOverride | default .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "inboxchat-operator.labels" -}}
{{ include "inboxchat-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{/* Labels that select the manager's pods; never change them on upgrade. */}}
{{- define "inboxchat-operator.selectorLabels" -}}
app.kubernetes.io/name: inboxchat-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The operator's image, also used for its worker Jobs. */}}
{{- define "inboxchat-operator.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Where the webhook server reads its serving certificate. */}}
{{- define "inboxchat-operator.webhookCertDir" -}}
/tmp/k8s-webhook-server/serving-certs
{{- end -}}

{{/* The Secret holding the webhook serving certificate (cert-manager mode). */}}
{{- define "inboxchat-operator.webhookCertSecret" -}}
{{ include "inboxchat-operator.fullname" . }}-webhook-cert
{{- end -}}

{{/* Where the metrics server reads its certificate (cert-manager mode). */}}
{{- define "inboxchat-operator.metricsCertDir" -}}
/tmp/k8s-metrics-server/metrics-certs
{{- end -}}

{{/* The Secret holding the metrics serving certificate (cert-manager mode). */}}
{{- define "inboxchat-operator.metricsCertSecret" -}}
{{ include "inboxchat-operator.fullname" . }}-metrics-cert
{{- end -}}

{{/* The ValidatingWebhookConfiguration (templates/webhook.yaml). Its name is
fixed: the generated ClusterRole lets the operator patch only this name. */}}
{{- define "inboxchat-operator.webhookConfigurationName" -}}
inboxchat-validating-webhook-configuration
{{- end -}}
