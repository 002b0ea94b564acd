// Package localnode plays the part of the kubelet on a control plane that has
// no nodes: envtest in the test suites and the embedded plane of `make run`.
//
// It acts only on objects the operator created (label
// app.kubernetes.io/managed-by=inboxchat-operator): it marks Deployments and
// StatefulSets available as a node would once their pods were ready, and runs
// the operator's worker Jobs as local processes with the Job's command,
// environment and mounted Secrets, ConfigMaps and volumes, then records the
// outcome in the Job status the way the Job controller does. It is a
// development and test harness; it never runs against a real cluster.
package localnode
