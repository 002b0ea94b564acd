// Package chart_test checks the Helm chart charts/inboxchat-operator: helm
// lint, the rendered manifests' security and RBAC properties, and (in
// apply_test.go) a server-side dry run of every rendering, and of Kustomize's
// config/default, against the local control plane.
//
// helm and kubectl are the ones `make helm envtest` builds from their Go
// modules; `make test` passes them in HELM and KUBEBUILDER_ASSETS.
package chart_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"

	"github.com/inboxchat/inboxchat-operator/internal/testenv"
)

const (
	releaseName      = "inboxchat-operator"
	releaseNamespace = "inboxchat-system"
	chartPath        = "charts/inboxchat-operator"
	webhookCertDir   = "/tmp/k8s-webhook-server/serving-certs"
	metricsCertDir   = "/tmp/k8s-metrics-server/metrics-certs"
	// webhookConfiguration is the ValidatingWebhookConfiguration's fixed name:
	// the generated ClusterRole lets the operator patch only this one.
	webhookConfiguration = "inboxchat-validating-webhook-configuration"
	// nonRootUID is the distroless "nonroot" user the image runs as.
	nonRootUID = int64(65532)
)

const buildHint = "run `make helm envtest` to build them, and the tests with `make test` (which sets HELM and KUBEBUILDER_ASSETS)"

// variant is one set of values the chart is rendered with, and what that
// rendering must contain.
type variant struct {
	name           string
	valuesFile     string // under testdata/; empty: the chart's defaults
	fullname       string
	replicas       int32
	certManager    bool
	metricsCert    bool // the metrics certificate from cert-manager
	ownIssuer      bool // a self-signed Issuer of the release, not one named in values
	serviceMonitor bool
	networkPolicy  bool
	webhookOff     bool
}

var variants = []variant{
	{name: "default values", fullname: releaseName, replicas: 2},
	{name: "one replica, ServiceMonitor and cert-manager", valuesFile: "values-certmanager.yaml",
		fullname: releaseName, replicas: 1, certManager: true, metricsCert: true, ownIssuer: true, serviceMonitor: true},
	{name: "every option set", valuesFile: "values-everything.yaml",
		fullname: "inboxchat", replicas: 3, certManager: true, metricsCert: true, serviceMonitor: true, networkPolicy: true},
	{name: "webhooks turned off", valuesFile: "values-nowebhook.yaml", fullname: releaseName, replicas: 2, webhookOff: true},
}

// helmBinary is the helm built by `make helm`, named by HELM.
func helmBinary(t *testing.T) string {
	t.Helper()
	path := os.Getenv("HELM")
	if path == "" {
		t.Fatalf("HELM is not set: the chart tests need helm; %s", buildHint)
	}
	if info, err := os.Stat(path); err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		t.Fatalf("HELM=%s is not an executable helm: %s", path, buildHint)
	}
	return path
}

// kubectlBinary is the kubectl `make envtest` builds beside kube-apiserver.
func kubectlBinary(t *testing.T) string {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatalf("KUBEBUILDER_ASSETS is not set: the chart tests need kubectl and the control plane; %s", buildHint)
	}
	path := filepath.Join(assets, "kubectl")
	if info, err := os.Stat(path); err != nil || info.Mode()&0o111 == 0 {
		t.Fatalf("kubectl is missing from KUBEBUILDER_ASSETS=%s: %s", assets, buildHint)
	}
	return path
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// run runs a program in the repository root and returns its standard output;
// a failure ends the test with the program's standard error.
func run(t *testing.T, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	out, err := runErr(t, stdin, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func runErr(t *testing.T, stdin []byte, name string, args ...string) ([]byte, error) {
	t.Helper()
	stdout, _, err := runWithStderr(t, stdin, name, args...)
	return stdout, err
}

// runWithStderr runs a program in the repository root; its error carries the
// command line and standard error.
func runWithStderr(t *testing.T, stdin []byte, name string, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = repoRoot(t)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.Bytes(), errOut.Bytes(), fmt.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, errOut.String())
	}
	return out.Bytes(), errOut.Bytes(), nil
}

// helmTemplate renders the chart for the variant in the release namespace.
func helmTemplate(t *testing.T, v variant, extra ...string) []byte {
	t.Helper()
	args := []string{"template", releaseName, chartPath, "--namespace", releaseNamespace}
	if v.valuesFile != "" {
		args = append(args, "--values", testdataPath(t, v.valuesFile))
	}
	return run(t, nil, helmBinary(t), append(args, extra...)...)
}

func testdataPath(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// manifests is a rendering decoded into objects.
type manifests []*unstructured.Unstructured

func decode(t *testing.T, data []byte) manifests {
	t.Helper()
	var objs manifests
	dec := yamlutil.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return objs
		} else if err != nil {
			t.Fatalf("decoding the rendered manifests: %v", err)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

func (m manifests) ofKind(kind string) manifests {
	var out manifests
	for _, o := range m {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func (m manifests) find(kind, name string) *unstructured.Unstructured {
	for _, o := range m {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// one is the only object of a kind; the test fails when there is not exactly one.
func (m manifests) one(t *testing.T, kind string) *unstructured.Unstructured {
	t.Helper()
	objs := m.ofKind(kind)
	if len(objs) != 1 {
		t.Fatalf("want exactly one %s in the rendering, got %d", kind, len(objs))
	}
	return objs[0]
}

func convert[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, out); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return out
}

// clusterScoped are the kinds the chart or Kustomize may render without a namespace.
var clusterScoped = map[string]bool{
	"Namespace": true, "CustomResourceDefinition": true, "ClusterRole": true, "ClusterRoleBinding": true,
	"ValidatingWebhookConfiguration": true, "MutatingWebhookConfiguration": true,
}

func TestChartLints(t *testing.T) {
	helm := helmBinary(t)
	run(t, nil, helm, "lint", chartPath)
	run(t, nil, helm, "lint", "--strict", chartPath)
	for _, v := range variants {
		if v.valuesFile != "" {
			run(t, nil, helm, "lint", "--strict", chartPath, "--values", testdataPath(t, v.valuesFile))
		}
	}
}

// values.schema.json refuses values the templates would turn into a broken install.
func TestChartSchemaRefusesBadValues(t *testing.T) {
	helm := helmBinary(t)
	for _, bad := range []struct{ name, set string }{
		{"no replicas", "replicas=0"},
		{"an unknown top-level value", "replica=2"},
		{"an unknown webhook failure policy", "webhook.failurePolicy=Maybe"},
		{"a webhook port out of range", "webhook.port=70000"},
		{"an unknown pull policy", "image.pullPolicy=Sometimes"},
		{"a string where a boolean belongs", "serviceMonitor.enabled=yes"},
		{"an unknown cert-manager issuer kind", "webhook.certManager.issuerRef.kind=Vault"},
		{"a webhook timeout above the API server's 30s", "webhook.timeoutSeconds=31"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			_, err := runErr(t, nil, helm, "template", releaseName, chartPath, "--set", bad.set)
			if err == nil {
				t.Fatalf("helm template --set %s rendered; values.schema.json should refuse it", bad.set)
			}
			if !strings.Contains(err.Error(), "schema") {
				t.Fatalf("helm template --set %s failed, but not on values.schema.json: %v", bad.set, err)
			}
		})
	}
}

// The chart's crds/ are the CRDs controller-gen generates, byte for byte.
func TestChartCRDsAreTheGeneratedOnes(t *testing.T) {
	root := repoRoot(t)
	generated, _ := filepath.Glob(filepath.Join(root, "config/crd/bases/*.yaml"))
	inChart, _ := filepath.Glob(filepath.Join(root, chartPath, "crds/*.yaml"))
	names := func(paths []string) []string {
		var out []string
		for _, p := range paths {
			out = append(out, filepath.Base(p))
		}
		return out
	}
	if len(generated) == 0 || !slices.Equal(names(generated), names(inChart)) {
		t.Fatalf("chart CRDs %v differ from config/crd/bases %v: run hack/sync-chart.sh", names(inChart), names(generated))
	}
	for _, p := range generated {
		want, _ := os.ReadFile(p)
		got, err := os.ReadFile(filepath.Join(root, chartPath, "crds", filepath.Base(p)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s/crds/%s is not the generated CRD: run hack/sync-chart.sh", chartPath, filepath.Base(p))
		}
	}
}

func TestChartRenderings(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			objs := decode(t, helmTemplate(t, v))
			t.Run("namespaced objects are in the release namespace", func(t *testing.T) {
				for _, o := range objs {
					if !clusterScoped[o.GetKind()] && o.GetNamespace() != releaseNamespace {
						t.Errorf("%s %s has namespace %q, want the release namespace %q", o.GetKind(), o.GetName(), o.GetNamespace(), releaseNamespace)
					}
				}
			})
			t.Run("every pod passes Pod Security restricted", func(t *testing.T) { checkPodsRestricted(t, objs) })
			t.Run("the ClusterRole is the generated role", func(t *testing.T) { checkGeneratedClusterRole(t, objs, v.fullname) })
			t.Run("no role has a wildcard", func(t *testing.T) { checkNoWildcards(t, objs) })
			t.Run("bindings name rendered roles and the ServiceAccount", func(t *testing.T) { checkBindings(t, objs, v.fullname) })
			t.Run("the manager Deployment", func(t *testing.T) { checkDeployment(t, objs, v) })
			t.Run("the metrics and webhook Services", func(t *testing.T) { checkServices(t, objs, v) })
			t.Run("optional objects", func(t *testing.T) { checkOptional(t, objs, v) })
			t.Run("the webhook configuration calls the webhook Service", func(t *testing.T) { checkWebhookConfiguration(t, objs, v) })
		})
	}
}

var restricted = psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}

// podTemplates are the pod templates of every workload in the rendering.
func podTemplates(t *testing.T, objs manifests) map[string]corev1.PodTemplateSpec {
	out := map[string]corev1.PodTemplateSpec{}
	for _, o := range objs {
		switch o.GetKind() {
		case "Deployment":
			out["Deployment "+o.GetName()] = convert[appsv1.Deployment](t, o).Spec.Template
		case "StatefulSet":
			out["StatefulSet "+o.GetName()] = convert[appsv1.StatefulSet](t, o).Spec.Template
		case "DaemonSet":
			out["DaemonSet "+o.GetName()] = convert[appsv1.DaemonSet](t, o).Spec.Template
		case "Pod", "Job", "CronJob":
			t.Fatalf("%s %s: the chart renders no bare %s; check it here when it does", o.GetKind(), o.GetName(), o.GetKind())
		}
	}
	if len(out) == 0 {
		t.Fatal("the rendering has no workload")
	}
	return out
}

// checkPodsRestricted runs the API server's own Pod Security evaluator and
// then checks the restricted profile's essentials field by field, so a
// failure names the field.
func checkPodsRestricted(t *testing.T, objs manifests) {
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for where, tpl := range podTemplates(t, objs) {
		res := policy.AggregateCheckResults(eval.EvaluatePod(restricted, &tpl.ObjectMeta, &tpl.Spec))
		if !res.Allowed {
			t.Errorf("%s violates Pod Security restricted: %s", where, res.ForbiddenDetail())
		}
		psc := tpl.Spec.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
			t.Errorf("%s: pod securityContext.runAsNonRoot is not true", where)
		}
		if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser != nonRootUID {
			t.Errorf("%s: pod securityContext.runAsUser is not %d", where, nonRootUID)
		}
		podSeccomp := psc != nil && psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
		for _, c := range slices.Concat(tpl.Spec.InitContainers, tpl.Spec.Containers) {
			sc := c.SecurityContext
			if sc == nil {
				t.Errorf("%s container %s has no securityContext", where, c.Name)
				continue
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s container %s: allowPrivilegeEscalation is not false", where, c.Name)
			}
			if sc.Privileged != nil && *sc.Privileged {
				t.Errorf("%s container %s is privileged", where, c.Name)
			}
			if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
				t.Errorf("%s container %s: capabilities do not drop ALL (or add some)", where, c.Name)
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s container %s: readOnlyRootFilesystem is not true", where, c.Name)
			}
			seccomp := sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
			if !seccomp && !(sc.SeccompProfile == nil && podSeccomp) {
				t.Errorf("%s container %s: seccomp profile is not RuntimeDefault", where, c.Name)
			}
		}
	}
}

// generatedRules are the rules controller-gen wrote to config/rbac/role.yaml.
func generatedRules(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "config/rbac/role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(data, &role); err != nil {
		t.Fatalf("config/rbac/role.yaml: %v", err)
	}
	if len(role.Rules) == 0 {
		t.Fatal("config/rbac/role.yaml has no rules")
	}
	return role.Rules
}

// The RBAC sync test: the ClusterRole the chart binds to the manager has
// exactly the rules the markers generate.
func checkGeneratedClusterRole(t *testing.T, objs manifests, fullname string) {
	o := objs.find("ClusterRole", fullname)
	if o == nil {
		t.Fatalf("no ClusterRole %s in the rendering", fullname)
	}
	got := convert[rbacv1.ClusterRole](t, o).Rules
	if want := generatedRules(t); !equality.Semantic.DeepEqual(got, want) {
		g, _ := yaml.Marshal(got)
		w, _ := yaml.Marshal(want)
		t.Fatalf("the chart's ClusterRole %s differs from config/rbac/role.yaml (run hack/sync-chart.sh):\nchart:\n%s\ngenerated:\n%s", fullname, g, w)
	}
}

func rulesOf(t *testing.T, o *unstructured.Unstructured) []rbacv1.PolicyRule {
	if o.GetKind() == "Role" {
		return convert[rbacv1.Role](t, o).Rules
	}
	return convert[rbacv1.ClusterRole](t, o).Rules
}

func checkNoWildcards(t *testing.T, objs manifests) {
	roles := append(objs.ofKind("Role"), objs.ofKind("ClusterRole")...)
	if len(roles) == 0 {
		t.Fatal("the rendering has no Role or ClusterRole")
	}
	for _, o := range roles {
		if convert[rbacv1.ClusterRole](t, o).AggregationRule != nil {
			t.Errorf("%s %s aggregates other roles; its rules cannot be reviewed here", o.GetKind(), o.GetName())
		}
		for i, r := range rulesOf(t, o) {
			for field, values := range map[string][]string{
				"apiGroups": r.APIGroups, "resources": r.Resources, "verbs": r.Verbs,
				"resourceNames": r.ResourceNames, "nonResourceURLs": r.NonResourceURLs,
			} {
				for _, v := range values {
					if strings.Contains(v, "*") {
						t.Errorf("%s %s rule %d has a wildcard in %s: %q", o.GetKind(), o.GetName(), i, field, v)
					}
				}
			}
		}
	}
}

func checkBindings(t *testing.T, objs manifests, fullname string) {
	if objs.find("ServiceAccount", fullname) == nil {
		t.Fatalf("no ServiceAccount %s", fullname)
	}
	bindings := append(objs.ofKind("RoleBinding"), objs.ofKind("ClusterRoleBinding")...)
	bound := map[string]bool{}
	for _, o := range bindings {
		b := convert[rbacv1.RoleBinding](t, o)
		if objs.find(b.RoleRef.Kind, b.RoleRef.Name) == nil {
			t.Errorf("%s %s refers to %s %s, which the chart does not render", o.GetKind(), o.GetName(), b.RoleRef.Kind, b.RoleRef.Name)
		}
		for _, s := range b.Subjects {
			if s.Kind != "ServiceAccount" || s.Name != fullname || s.Namespace != releaseNamespace {
				t.Errorf("%s %s binds %s %s/%s, want only the ServiceAccount %s/%s", o.GetKind(), o.GetName(), s.Kind, s.Namespace, s.Name, releaseNamespace, fullname)
			}
		}
		bound[b.RoleRef.Kind+"/"+b.RoleRef.Name] = true
	}
	for _, want := range []string{
		"ClusterRole/" + fullname, "ClusterRole/" + fullname + "-metrics-auth", "Role/" + fullname + "-leader-election",
	} {
		if !bound[want] {
			t.Errorf("the manager's ServiceAccount is not bound to %s", want)
		}
	}
	reader := objs.find("ClusterRole", fullname+"-metrics-reader")
	if reader == nil {
		t.Fatalf("no ClusterRole %s-metrics-reader for scrapers", fullname)
	}
	want := []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}
	if got := rulesOf(t, reader); !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("%s-metrics-reader rules = %+v, want only get /metrics", fullname, got)
	}
	auth := objs.find("ClusterRole", fullname+"-metrics-auth")
	wantAuth := []rbacv1.PolicyRule{
		{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"tokenreviews"}, Verbs: []string{"create"}},
		{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
	}
	if auth == nil || !equality.Semantic.DeepEqual(rulesOf(t, auth), wantAuth) {
		t.Errorf("%s-metrics-auth must allow exactly creating tokenreviews and subjectaccessreviews", fullname)
	}
}

// managerFlags are a container's arguments after its subcommand, as flag
// name → value, with $(VAR) references expanded the way the kubelet does
// from the container's env (a fieldRef to metadata.namespace resolves to
// podNamespace); a bare boolean flag has the value "true".
func managerFlags(t *testing.T, c corev1.Container, podNamespace string) (subcommand string, flags map[string]string) {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			env[e.Name] = podNamespace
		}
	}
	args := slices.Concat(c.Command, c.Args)
	if len(args) == 0 {
		t.Fatalf("container %s has no arguments", c.Name)
	}
	flags = map[string]string{}
	for _, a := range args[1:] {
		for name, value := range env {
			a = strings.ReplaceAll(a, "$("+name+")", value)
		}
		name, value, found := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") {
			t.Fatalf("container %s: argument %q is not a --flag", c.Name, a)
		}
		if !found {
			value = "true"
		}
		if _, dup := flags[name]; dup {
			t.Errorf("container %s sets --%s twice", c.Name, name)
		}
		flags[name] = value
	}
	return args[0], flags
}

func managerOf(t *testing.T, d *appsv1.Deployment) corev1.Container {
	t.Helper()
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "manager" {
			return c
		}
	}
	t.Fatalf("Deployment %s has no container named manager", d.Name)
	return corev1.Container{}
}

func checkDeployment(t *testing.T, objs manifests, v variant) {
	d := convert[appsv1.Deployment](t, objs.one(t, "Deployment"))
	if d.Name != v.fullname {
		t.Errorf("Deployment is named %s, want %s", d.Name, v.fullname)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != v.replicas {
		t.Errorf("Deployment replicas = %v, want %d", d.Spec.Replicas, v.replicas)
	}
	pod := d.Spec.Template.Spec
	if pod.ServiceAccountName != v.fullname {
		t.Errorf("pods run as ServiceAccount %q, want %q", pod.ServiceAccountName, v.fullname)
	}
	c := managerOf(t, d)
	sub, flags := managerFlags(t, c, releaseNamespace)
	if sub != "manager" {
		t.Errorf("the container runs subcommand %q, want manager", sub)
	}
	mode := "self" // the operator issues the certificate from its own CA
	if v.certManager {
		mode = "files" // it serves the certificate cert-manager writes
	}
	want := map[string]string{
		"leader-elect":               "true",
		"metrics-bind-address":       ":8443",
		"health-probe-bind-address":  ":8081",
		"operator-namespace":         releaseNamespace,
		"worker-image":               c.Image,
		"apiserver-egress-ports":     "6443",
		"webhook-port":               "9443",
		"webhook-cert-mode":          mode,
		"webhook-cert-dir":           webhookCertDir,
		"webhook-service-name":       v.fullname + "-webhook",
		"webhook-configuration-name": webhookConfiguration,
	}
	if v.metricsCert {
		want["metrics-cert-dir"] = metricsCertDir
	} else if _, set := flags["metrics-cert-dir"]; set {
		t.Errorf("--metrics-cert-dir is set without metrics.certManager")
	}
	wantPorts := map[string]int32{"metrics": 8443, "probes": 8081, "webhook-server": 9443}
	if v.webhookOff {
		for name := range want {
			if strings.HasPrefix(name, "webhook-") {
				delete(want, name)
			}
		}
		want["webhook-port"] = "-1" // the manager's "off"
		delete(wantPorts, "webhook-server")
	}
	for name, value := range want {
		if got, ok := flags[name]; !ok || got != value {
			t.Errorf("--%s = %q (set: %v), want %q", name, got, ok, value)
		}
	}
	for name := range flags {
		if _, ok := want[name]; !ok && strings.HasPrefix(name, "webhook-") {
			t.Errorf("--%s is set, but not wanted here", name)
		}
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if !equality.Semantic.DeepEqual(ports, wantPorts) {
		t.Errorf("container ports = %v, want %v", ports, wantPorts)
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Port.String() != "probes" {
			t.Errorf("%s probe is not an HTTP GET on the probes port: %+v", name, p)
		} else if p.InitialDelaySeconds <= 0 || p.PeriodSeconds <= 0 {
			t.Errorf("%s probe has no initial delay or period: %+v", name, p)
		}
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("the container must request CPU and memory and limit memory: %+v", c.Resources)
	}
	var certVolume *corev1.Volume
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == "webhook-cert" {
			certVolume = &pod.Volumes[i]
		}
	}
	mounted := slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == "webhook-cert" && m.MountPath == webhookCertDir
	})
	switch {
	case v.webhookOff:
		if certVolume != nil || mounted {
			t.Errorf("with webhooks off the pod still has the webhook-cert volume")
		}
	case certVolume == nil || !mounted:
		t.Errorf("the webhook-cert volume is not mounted at %s", webhookCertDir)
	case v.certManager && (certVolume.Secret == nil || certVolume.Secret.SecretName != v.fullname+"-webhook-cert"):
		t.Errorf("with cert-manager the webhook certificate must come from Secret %s-webhook-cert, got %+v", v.fullname, certVolume.VolumeSource)
	case !v.certManager && certVolume.EmptyDir == nil:
		t.Errorf("without cert-manager the operator writes its certificate to an emptyDir, got %+v", certVolume.VolumeSource)
	}
	metricsVolume := slices.IndexFunc(pod.Volumes, func(vol corev1.Volume) bool { return vol.Name == "metrics-cert" })
	metricsMounted := slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == "metrics-cert" && m.MountPath == metricsCertDir && m.ReadOnly
	})
	switch {
	case !v.metricsCert && (metricsVolume >= 0 || metricsMounted):
		t.Errorf("without metrics.certManager the pod has a metrics-cert volume")
	case v.metricsCert && (metricsVolume < 0 || !metricsMounted):
		t.Errorf("the metrics-cert volume is not mounted read-only at %s", metricsCertDir)
	case v.metricsCert && (pod.Volumes[metricsVolume].Secret == nil || pod.Volumes[metricsVolume].Secret.SecretName != v.fullname+"-metrics-cert"):
		t.Errorf("the metrics certificate must come from Secret %s-metrics-cert, got %+v", v.fullname, pod.Volumes[metricsVolume].VolumeSource)
	}
	spread := len(pod.TopologySpreadConstraints) > 0
	if spread != (v.replicas > 1) {
		t.Errorf("topologySpreadConstraints present = %v with %d replicas; want them exactly when replicas > 1", spread, v.replicas)
	}
}

func checkServices(t *testing.T, objs manifests, v variant) {
	for _, want := range []struct {
		name       string
		port       int32
		targetPort string
	}{
		{v.fullname + "-metrics", 8443, "metrics"},
		{v.fullname + "-webhook", 443, "webhook-server"},
	} {
		o := objs.find("Service", want.name)
		if v.webhookOff && want.targetPort == "webhook-server" {
			if o != nil {
				t.Errorf("with webhooks off the chart still renders Service %s", want.name)
			}
			continue
		}
		if o == nil {
			t.Errorf("no Service %s", want.name)
			continue
		}
		svc := convert[corev1.Service](t, o)
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != want.port || svc.Spec.Ports[0].TargetPort.String() != want.targetPort || svc.Spec.Ports[0].Name != "https" {
			t.Errorf("Service %s ports = %+v, want https %d → %s", want.name, svc.Spec.Ports, want.port, want.targetPort)
		}
		d := convert[appsv1.Deployment](t, objs.one(t, "Deployment"))
		for k, val := range svc.Spec.Selector {
			if d.Spec.Template.Labels[k] != val {
				t.Errorf("Service %s selects %s=%s, which the manager's pods do not carry", want.name, k, val)
			}
		}
	}
}

func checkOptional(t *testing.T, objs manifests, v variant) {
	present := func(kind string) bool { return len(objs.ofKind(kind)) > 0 }
	for kind, want := range map[string]bool{
		"PodDisruptionBudget": v.replicas > 1,
		"ServiceMonitor":      v.serviceMonitor,
		"Certificate":         v.certManager || v.metricsCert,
		"Issuer":              v.ownIssuer,
		"NetworkPolicy":       v.networkPolicy,
	} {
		if present(kind) != want {
			t.Errorf("%s rendered = %v, want %v", kind, present(kind), want)
		}
	}
	if v.serviceMonitor {
		sm := objs.one(t, "ServiceMonitor")
		if sm.GetAPIVersion() != "monitoring.coreos.com/v1" {
			t.Errorf("ServiceMonitor apiVersion = %s", sm.GetAPIVersion())
		}
		endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		if len(endpoints) != 1 {
			t.Fatalf("ServiceMonitor endpoints = %v, want one", endpoints)
		}
		ep := endpoints[0].(map[string]any)
		if ep["port"] != "https" || ep["scheme"] != "https" || ep["bearerTokenFile"] == nil {
			t.Errorf("ServiceMonitor endpoint must scrape port https over HTTPS with a bearer token: %v", ep)
		}
		insecure, found, _ := unstructured.NestedBool(ep, "tlsConfig", "insecureSkipVerify")
		server, _, _ := unstructured.NestedString(ep, "tlsConfig", "serverName")
		if !found || insecure || server == "" {
			t.Errorf("ServiceMonitor must verify the metrics certificate against a server name: tlsConfig %v", ep["tlsConfig"])
		}
		caSecret, _, _ := unstructured.NestedString(ep, "tlsConfig", "ca", "secret", "name")
		switch {
		case v.valuesFile == "values-everything.yaml" && caSecret != "metrics-ca":
			t.Errorf("ServiceMonitor must trust the CA the values name, got Secret %q", caSecret)
		case v.valuesFile != "values-everything.yaml" && v.metricsCert && caSecret != v.fullname+"-metrics-cert":
			t.Errorf("ServiceMonitor must trust the ca.crt of the metrics certificate's Secret %s-metrics-cert, got %q", v.fullname, caSecret)
		}
	}
	for _, cert := range []struct {
		on            bool
		name, service string
	}{{v.certManager, "webhook", "-webhook"}, {v.metricsCert, "metrics", "-metrics"}} {
		o := objs.find("Certificate", v.fullname+"-"+cert.name)
		if o == nil {
			if cert.on {
				t.Errorf("no Certificate %s-%s", v.fullname, cert.name)
			}
			continue
		}
		if !cert.on {
			t.Errorf("Certificate %s rendered, but not wanted here", o.GetName())
			continue
		}
		secret, _, _ := unstructured.NestedString(o.Object, "spec", "secretName")
		if secret != v.fullname+"-"+cert.name+"-cert" {
			t.Errorf("Certificate %s secretName = %q, want %s-%s-cert", o.GetName(), secret, v.fullname, cert.name)
		}
		dnsNames, _, _ := unstructured.NestedStringSlice(o.Object, "spec", "dnsNames")
		if want := v.fullname + cert.service + "." + releaseNamespace + ".svc"; !slices.Contains(dnsNames, want) {
			t.Errorf("Certificate %s dnsNames %v do not name the Service %s", o.GetName(), dnsNames, want)
		}
		issuer, _, _ := unstructured.NestedString(o.Object, "spec", "issuerRef", "name")
		if v.ownIssuer && issuer != v.fullname+"-selfsigned" {
			t.Errorf("Certificate %s issuerRef.name = %q, want the release's self-signed Issuer", o.GetName(), issuer)
		}
	}
	if v.replicas > 1 {
		pdb := objs.one(t, "PodDisruptionBudget")
		if _, found, _ := unstructured.NestedFieldNoCopy(pdb.Object, "spec", "minAvailable"); !found {
			t.Errorf("PodDisruptionBudget has no minAvailable")
		}
	}
}

// checkWebhookConfiguration checks the wiring of templates/webhook.yaml (which
// hack/sync-chart.sh generates) to the Service, certificate and flags of this
// chart, when the chart has it.
func checkWebhookConfiguration(t *testing.T, objs manifests, v variant) {
	configs := objs.ofKind("ValidatingWebhookConfiguration")
	if v.webhookOff {
		if len(configs) > 0 {
			t.Errorf("with webhooks off the chart still renders ValidatingWebhookConfiguration %s", configs[0].GetName())
		}
		return
	}
	if len(configs) == 0 {
		t.Fatal("the chart renders no ValidatingWebhookConfiguration with webhook.enabled (run hack/sync-chart.sh)")
	}
	if len(configs) != 1 || configs[0].GetName() != webhookConfiguration {
		t.Fatalf("want one ValidatingWebhookConfiguration named %s (the name the ClusterRole allows the operator to patch), got %d (first %q)",
			webhookConfiguration, len(configs), configs[0].GetName())
	}
	cfg := convert[admissionregistrationv1.ValidatingWebhookConfiguration](t, configs[0])
	for _, w := range cfg.Webhooks {
		svc := w.ClientConfig.Service
		if svc == nil || svc.Name != v.fullname+"-webhook" || svc.Namespace != releaseNamespace || (svc.Port != nil && *svc.Port != 443) {
			t.Errorf("webhook %s calls %+v, want the Service %s/%s-webhook on port 443", w.Name, svc, releaseNamespace, v.fullname)
		}
	}
	inject := cfg.Annotations["cert-manager.io/inject-ca-from"]
	if want := releaseNamespace + "/" + v.fullname + "-webhook"; v.certManager && inject != want {
		t.Errorf("with cert-manager the configuration must take its CA bundle from Certificate %s (cert-manager.io/inject-ca-from), got %q", want, inject)
	}
	if !v.certManager && inject != "" {
		t.Errorf("without cert-manager the operator injects the CA bundle, but the configuration asks cert-manager to (%q)", inject)
	}
}
