{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "model-server.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified name; also the Service name. With release name "model-server" it is just
"model-server", which is what profiles/*.yaml target (http://model-server:8000).
*/}}
{{- define "model-server.fullname" -}}
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

{{- define "model-server.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Standard labels on every object. */}}
{{- define "model-server.labels" -}}
helm.sh/chart: {{ include "model-server.chart" . }}
{{ include "model-server.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: model-server
app.kubernetes.io/part-of: loadgate
{{- end }}

{{/* Selector labels: immutable on a Deployment, so only name + instance. */}}
{{- define "model-server.selectorLabels" -}}
app.kubernetes.io/name: {{ include "model-server.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "model-server.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "model-server.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "model-server.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
Server settings as LOADGATE_* env vars: each key of .Values.server in camelCase becomes
LOADGATE_<UPPER_SNAKE> (maxBatchSize -> LOADGATE_MAX_BATCH_SIZE). Null values are left out so
the server's own default applies.
*/}}
{{- define "model-server.serverEnv" -}}
{{- range $key, $value := .Values.server }}
{{- if not (kindIs "invalid" $value) }}
- name: {{ printf "LOADGATE_%s" ($key | snakecase | upper) }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}
{{- end }}
