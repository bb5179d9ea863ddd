{{- define "ecsfleet.labels" -}}
app.kubernetes.io/name: ecsfleet
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "ecsfleet.selector" -}}
app.kubernetes.io/name: ecsfleet
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
