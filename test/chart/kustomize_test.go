package chart_test

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"
)

// Kustomize's config/default installs the same operator as the chart with its
// default values: the same manager flags, security contexts, ports, probes,
// resources, Services and RBAC rules. Names differ (Kustomize prefixes
// "inboxchat-", the chart names objects after the release), and so does the
// image tag.
func TestKustomizeDefaultMatchesChart(t *testing.T) {
	kubectl := kubectlBinary(t)
	chart := decode(t, helmTemplate(t, variants[0]))
	kust := decode(t, run(t, nil, kubectl, "kustomize", "config/default"))

	t.Run("the manager Deployment", func(t *testing.T) {
		cd := convert[appsv1.Deployment](t, chart.one(t, "Deployment"))
		kd := convert[appsv1.Deployment](t, kust.one(t, "Deployment"))
		if kd.Namespace != releaseNamespace {
			t.Errorf("Kustomize installs into %q, the test renders the chart into %q", kd.Namespace, releaseNamespace)
		}
		cc, kc := managerOf(t, cd), managerOf(t, kd)
		csub, cflags := managerFlags(t, cc, cd.Namespace)
		ksub, kflags := managerFlags(t, kc, kd.Namespace)
		if csub != ksub {
			t.Errorf("subcommand: chart %q, kustomize %q", csub, ksub)
		}
		if c, k := slices.Sorted(maps.Keys(cflags)), slices.Sorted(maps.Keys(kflags)); !slices.Equal(c, k) {
			t.Errorf("the manager's flags differ:\nchart:     %v\nkustomize: %v", c, k)
		}
		for name, cv := range cflags {
			kv, ok := kflags[name]
			switch {
			case !ok:
			case name == "webhook-service-name":
				// Names differ; each must name its own webhook Service.
				if cv != serviceName(t, chart, "webhook") || kv != serviceName(t, kust, "webhook") {
					t.Errorf("--webhook-service-name must name the rendering's webhook Service: chart %q, kustomize %q", cv, kv)
				}
			case name == "worker-image":
				// The image differs by tag; each must run its workers from its own image.
				if cv != cc.Image || kv != kc.Image {
					t.Errorf("--worker-image must be the manager's own image: chart %q (image %q), kustomize %q (image %q)", cv, cc.Image, kv, kc.Image)
				}
			case cv != kv:
				t.Errorf("--%s: chart %q, kustomize %q", name, cv, kv)
			}
		}
		same := func(what string, c, k any) {
			t.Helper()
			if !equality.Semantic.DeepEqual(c, k) {
				cy, _ := yaml.Marshal(c)
				ky, _ := yaml.Marshal(k)
				t.Errorf("%s differs:\nchart:\n%s\nkustomize:\n%s", what, cy, ky)
			}
		}
		same("replicas", cd.Spec.Replicas, kd.Spec.Replicas)
		same("the pod securityContext", cd.Spec.Template.Spec.SecurityContext, kd.Spec.Template.Spec.SecurityContext)
		same("the container securityContext", cc.SecurityContext, kc.SecurityContext)
		same("the liveness probe", cc.LivenessProbe, kc.LivenessProbe)
		same("the readiness probe", cc.ReadinessProbe, kc.ReadinessProbe)
		same("resources", cc.Resources, kc.Resources)
		same("container ports", portsByName(cc), portsByName(kc))
		same("mount paths", mountPaths(cc), mountPaths(kc))
		same("GOMEMLIMIT", envValue(cc, "GOMEMLIMIT"), envValue(kc, "GOMEMLIMIT"))
		same("terminationGracePeriodSeconds", cd.Spec.Template.Spec.TerminationGracePeriodSeconds, kd.Spec.Template.Spec.TerminationGracePeriodSeconds)
	})

	t.Run("the metrics and webhook Services", func(t *testing.T) {
		if c, k := servicePorts(t, chart), servicePorts(t, kust); !equality.Semantic.DeepEqual(c, k) {
			t.Errorf("Service ports differ:\nchart:     %v\nkustomize: %v", c, k)
		}
	})

	t.Run("RBAC rules", func(t *testing.T) {
		if c, k := ruleSets(t, chart), ruleSets(t, kust); !slices.Equal(c, k) {
			t.Errorf("the roles' rules differ:\nchart:\n%v\nkustomize:\n%v", c, k)
		}
	})
}

func portsByName(c corev1.Container) map[string]int32 {
	out := map[string]int32{}
	for _, p := range c.Ports {
		out[p.Name] = p.ContainerPort
	}
	return out
}

func mountPaths(c corev1.Container) []string {
	var out []string
	for _, m := range c.VolumeMounts {
		out = append(out, m.MountPath)
	}
	sort.Strings(out)
	return out
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// servicePorts describes each Service by its component label and ports.
func servicePorts(t *testing.T, objs manifests) []string {
	var out []string
	for _, o := range objs.ofKind("Service") {
		svc := convert[corev1.Service](t, o)
		for _, p := range svc.Spec.Ports {
			out = append(out, fmt.Sprintf("%s: %s %d→%s", svc.Labels["app.kubernetes.io/component"], p.Name, p.Port, p.TargetPort.String()))
		}
	}
	sort.Strings(out)
	return out
}

// ruleSets are the rules of every Role and ClusterRole, one string per role
// (kind and rules), sorted: names are left out.
func ruleSets(t *testing.T, objs manifests) []string {
	var out []string
	for _, o := range append(objs.ofKind("Role"), objs.ofKind("ClusterRole")...) {
		rules, err := yaml.Marshal(rulesOf(t, o))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o.GetKind()+":\n"+string(rules))
	}
	sort.Strings(out)
	return out
}

// serviceName is the name of the Service with the component label.
func serviceName(t *testing.T, objs manifests, component string) string {
	for _, o := range objs.ofKind("Service") {
		if o.GetLabels()["app.kubernetes.io/component"] == component {
			return o.GetName()
		}
	}
	t.Errorf("no Service with app.kubernetes.io/component=%s", component)
	return ""
}
