{{/* Names and labels shared by every template. */}}
{{- define "aos.name" -}}{{ .Chart.Name }}{{- end }}

{{- define "aos.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}{{ .Release.Name | trunc 50 | trimSuffix "-" }}{{ else }}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" }}{{ end }}
{{- end }}

{{- define "aos.image" -}}{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}{{- end }}

{{/* Labels; pass (dict "root" $ "component" "control-plane"). part-of: aos keeps the injector away from our own pods. */}}
{{- define "aos.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: aos
{{ include "aos.selectorLabels" . }}
{{- end }}

{{- define "aos.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aos.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "aos.serviceAccountName" -}}{{ include "aos.fullname" .root }}-{{ .component }}{{- end }}

{{/* The gateway config (aos.yaml): the values' gatewayConfig, the cluster's issuer first. Pass
     (dict "root" $ "sidecar" true) for the injected sidecars: on the pod's loopback only, a call
     without an agent JWT is the pod's workload (its projected token, mounted by the injector). */}}
{{- define "aos.gatewayConfig" -}}
{{- $sidecar := default false .sidecar }}
{{- with .root }}
{{- $cfg := deepCopy .Values.gatewayConfig }}
{{- $identity := deepCopy (default (dict) $cfg.identity) }}
{{- $cluster := dict "issuer" .Values.kubernetes.issuer "discovery" true "kubernetes" true "caFile" "/var/run/secrets/aos/ca.crt" "tokenFile" "/var/run/secrets/aos/api-token" }}
{{- $_ := set $identity "issuers" (prepend (default (list) $identity.issuers) $cluster) }}
{{- $_ := set $identity "registry" "agents.yaml" }}
{{- if and $sidecar (ne (toString (default "required" $identity.mode)) "off") (not (hasKey $identity "workloadToken")) }}
{{- $_ := set $identity "workloadToken" (dict "file" "/var/run/secrets/aos/token") }}
{{- end }}
{{- $_ := set $cfg "identity" $identity }}
{{- if .Values.policyBundleBase64 }}
{{- $_ := set $cfg "policy" (mergeOverwrite (deepCopy (default (dict) $cfg.policy)) (dict "bundle" (dict "file" "bundle.tar.gz"))) }}
{{- end }}
{{- if and .Values.controlPlane.enabled (not (hasKey $cfg "controlPlane")) }}
{{- $url := printf "http://%s-control.%s.svc:7070" (include "aos.fullname" .) .Release.Namespace }}
{{- $_ := set $cfg "controlPlane" (dict "urls" (list $url) "tokenFile" "/var/run/secrets/aos/control-token" "gatewayId" "${POD_NAME}") }}
{{- end }}
{{- $_ := set $cfg "listen" (dict "host" (ternary "127.0.0.1" "${AOS_LISTEN_HOST:-127.0.0.1}" $sidecar) "port" "${AOS_LISTEN_PORT:-8080}") }}
{{- $_ := set $cfg "admin" (dict "host" "${AOS_ADMIN_HOST:-0.0.0.0}" "port" "${AOS_ADMIN_PORT:-9090}") }}
{{- $_ := set $cfg "dataDir" "${AOS_DATA_DIR:-/var/lib/aos}" }}
{{- toYaml $cfg }}
{{- end }}
{{- end }}

{{/* The projected volume every gateway mounts at /var/run/secrets/aos: the cluster CA and a token for
     issuer discovery, and its credential for the control plane. */}}
{{- define "aos.clusterAccessVolume" -}}
- name: aos-token
  projected:
    sources:
      - serviceAccountToken: { path: api-token, expirationSeconds: 3600 }
      - configMap: { name: kube-root-ca.crt, items: [{ key: ca.crt, path: ca.crt }] }
      {{- if .Values.controlPlane.enabled }}
      - serviceAccountToken: { path: control-token, audience: aos-control, expirationSeconds: 3600 }
      {{- end }}
{{- end }}

{{/* The pod's name, namespace and node: a gateway under a control plane labels itself with them. */}}
{{- define "aos.podEnv" -}}
- name: POD_NAME
  valueFrom: { fieldRef: { fieldPath: metadata.name } }
- name: POD_NAMESPACE
  valueFrom: { fieldRef: { fieldPath: metadata.namespace } }
- name: NODE_NAME
  valueFrom: { fieldRef: { fieldPath: spec.nodeName } }
{{- end }}

{{- define "aos.postgresSecretName" -}}
{{- if .Values.controlPlane.postgres.existingSecret }}{{ .Values.controlPlane.postgres.existingSecret }}{{ else }}{{ include "aos.fullname" . }}-postgres{{ end }}
{{- end }}

{{- define "aos.controlPlaneUsesPostgres" -}}
{{- if or .Values.controlPlane.postgres.url .Values.controlPlane.postgres.existingSecret }}true{{ end }}
{{- end }}
