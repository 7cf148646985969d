{{/* The name of every object of a release. */}}
{{- define "podmirror.fullname" -}}
{{- if contains "podmirror" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-podmirror" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "podmirror.labels" -}}
app.kubernetes.io/name: podmirror
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "podmirror.selector" -}}
app.kubernetes.io/name: podmirror
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
