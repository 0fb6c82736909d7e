{{- define "p2p.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 50 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "p2p.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "p2p.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* p2p.registryInstances as a list: domains, and cri-… ids the agent resolves with controller.ramRole. */}}
{{- define "p2p.registryDomains" -}}
{{- $out := list -}}
{{- range (splitList "," .Values.p2p.registryInstances) -}}
{{- $r := trim . -}}
{{- if $r -}}{{- $out = append $out $r -}}{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{- define "p2p.excludedNamespaces" -}}
{{- toJson (uniq (append .Values.webhook.excludedNamespaces .Release.Namespace)) -}}
{{- end -}}

{{/* The uninstall hook's account and role: made before its Job, removed after it. */}}
{{- define "p2p.uninstallHook" -}}
helm.sh/hook: pre-delete
helm.sh/hook-weight: "-1"
helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
{{- end }}

{{/* The Secret whose key `secret` signs agent-to-agent requests: the user's, or the one the controller creates once. */}}
{{- define "p2p.swarmSecret" -}}
{{ .Values.p2p.swarm.existingSecret | default (printf "%s-swarm" (include "p2p.fullname" .)) }}
{{- end -}}
