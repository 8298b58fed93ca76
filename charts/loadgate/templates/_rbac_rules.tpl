{{/*
The operator's least-privilege rules, each commented by what needs it. Shared by the
ClusterRole (all namespaces) and the per-namespace Roles (watchNamespaces).
*/}}
{{- define "loadgate.rbacRules" -}}
# kopf watches LoadTests and patches them (finalizer, progress annotations); delete: finished
# runs beyond operator.keepFinished per namespace
- apiGroups: ["loadgate.dev"]
  resources: ["loadtests"]
  verbs: ["get", "list", "watch", "patch", "delete"]
# the operator writes phase, verdict, summary and conditions into .status
- apiGroups: ["loadgate.dev"]
  resources: ["loadtests/status"]
  verbs: ["get", "patch"]
# children carry an owner reference with blockOwnerDeletion: clusters enforcing owner-reference
# permissions (OwnerReferencesPermissionEnforcement, e.g. OpenShift) require this
- apiGroups: ["loadgate.dev"]
  resources: ["loadtests/finalizers"]
  verbs: ["update"]
# Locust master/worker Jobs and the collector Job: created per run, deleted on cleanup;
# patched once the run has its verdict (ttlSecondsAfterFinished is set only then)
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# the Jobs' Pods: readiness of the master, termination message of the collector (the summary)
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
# the master's Service (workers connect to it), the run's config ConfigMap, the results PVC
- apiGroups: [""]
  resources: ["services", "configmaps", "persistentvolumeclaims"]
  verbs: ["get", "list", "watch", "create"]
# Events on the LoadTest (kopf posts core/v1 events; patch folds repeats into a count); list:
# why a run's pod or PVC cannot start (FailedMount, ProvisioningFailed)
- apiGroups: [""]
  resources: ["events"]
  verbs: ["list", "create", "patch"]
# the same Events through events.k8s.io/v1, which newer kubernetes clients use
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
