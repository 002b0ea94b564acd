package controllers

import (
	"slices"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"k8s.io/utils/ptr"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

func tenantWith(engine v1alpha1.DatabaseEngine, replicas int32) *v1alpha1.Tenant {
	return &v1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: "acme"},
		Spec: v1alpha1.TenantSpec{
			Admins: []v1alpha1.TenantAdmin{{Email: "a@acme.example", User: "alice"}, {Email: "b@acme.example", Group: "acme-ops"}},
			App:    v1alpha1.AppSpec{Image: "app:1", Host: "chat.acme.example", Replicas: ptr.To(replicas)},
			Stores: v1alpha1.StoresSpec{Database: v1alpha1.DatabaseStore{Managed: &v1alpha1.ManagedDatabase{Engine: engine}}},
		},
	}
}

// Every pod the Tenant makes passes Pod Security "restricted", checked by the
// same evaluator the API server's admission plugin uses.
func TestEveryTenantPodPassesRestricted(t *testing.T) {
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, engine := range []v1alpha1.DatabaseEngine{v1alpha1.DatabaseEnginePostgres, v1alpha1.DatabaseEngineMySQL} {
		tn := tenantWith(engine, 2)
		db, _ := desiredDatabase(tn, DefaultStoreImages())
		redis, _ := desiredRedis(tn, DefaultStoreImages())
		unsub, _ := desiredUnsubscribe(tn, DefaultWorkerOptions())
		_, _, _, _, prune := desiredPrune(tn, DefaultWorkerOptions())
		er := &v1alpha1.ErasureRequest{ObjectMeta: metav1.ObjectMeta{Name: "adios", Namespace: tn.NamespaceName()}}
		templates := map[string]corev1.PodTemplateSpec{
			"app": desiredAppDeployment(tn).Spec.Template, "database/" + string(engine): db.Spec.Template, "redis": redis.Spec.Template,
			"unsubscribe": unsub.Spec.Template, "prune": prune.Spec.JobTemplate.Spec.Template,
			"erase worker": desiredWorkerJob(erasureWorker(er, tn), DefaultWorkerOptions()).Spec.Template,
			"migrate":      desiredMigrateJob(tn, DefaultWorkerOptions()).Spec.Template,
		}
		for name, tpl := range templates {
			res := policy.AggregateCheckResults(eval.EvaluatePod(
				psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}, &tpl.ObjectMeta, &tpl.Spec))
			if !res.Allowed {
				t.Errorf("the %s pod violates Pod Security restricted: %s", name, res.ForbiddenDetail())
			}
		}
	}
}

// Secret values reach containers only through secretKeyRef or mounted files.
func TestNoSecretValueInPodSpecs(t *testing.T) {
	tn := tenantWith(v1alpha1.DatabaseEnginePostgres, 1)
	db, _ := desiredDatabase(tn, DefaultStoreImages())
	redis, _ := desiredRedis(tn, DefaultStoreImages())
	for _, spec := range []corev1.PodSpec{desiredAppDeployment(tn).Spec.Template.Spec, db.Spec.Template.Spec, redis.Spec.Template.Spec} {
		for _, c := range spec.Containers {
			for _, e := range c.Env {
				sensitive := e.Name == "POSTGRES_PASSWORD" || e.Name == "MARIADB_PASSWORD" || e.Name == "REDISCLI_AUTH" ||
					e.Name == "INBOXCHAT_DATABASE_DSN" || e.Name == "INBOXCHAT_REDIS_URL" || e.Name == "INBOXCHAT_SESSION_KEY"
				if sensitive && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
					t.Errorf("container %s: %s must come from a Secret key", c.Name, e.Name)
				}
			}
		}
	}
}

func TestAdminRoleIsLeastPrivilege(t *testing.T) {
	tn := tenantWith(v1alpha1.DatabaseEnginePostgres, 1)
	role := desiredAdminRole(tn)
	for _, r := range role.Rules {
		for _, list := range [][]string{r.APIGroups, r.Resources, r.Verbs} {
			for _, v := range list {
				if v == "*" {
					t.Fatalf("the admin role has a wildcard: %+v", r)
				}
			}
		}
		for _, res := range r.Resources {
			switch res {
			case "broadcasts", "erasurerequests", "policyupdates", "broadcasts/status", "erasurerequests/status", "policyupdates/status":
			default:
				t.Errorf("the admin role grants %s, which is not one of the tenant's kinds", res)
			}
		}
	}
	rb := desiredAdminRoleBinding(tn)
	if len(rb.Subjects) != 2 || rb.Subjects[0].Name != "alice" || rb.Subjects[1].Kind != "Group" || rb.Subjects[1].Name != "acme-ops" {
		t.Fatalf("the binding should name user alice and group acme-ops, got %+v", rb.Subjects)
	}
}

// A worker's Role lets it read its one object and patch that object's
// status, and read only the Secrets named for it.
func TestWorkerRoleIsLimitedToItsObject(t *testing.T) {
	tn := tenantWith(v1alpha1.DatabaseEnginePostgres, 1)
	er := &v1alpha1.ErasureRequest{ObjectMeta: metav1.ObjectMeta{Name: "adios", Namespace: tn.NamespaceName()},
		Spec: v1alpha1.ErasureRequestSpec{Subject: v1alpha1.ErasureSubject{Kind: v1alpha1.SubjectLead, SecretRef: &v1alpha1.SecretReference{Name: "who"}}}}
	_, role, rb := desiredWorkerRBAC(erasureWorker(er, tn))
	for _, rule := range role.Rules {
		if len(rule.ResourceNames) != 1 {
			t.Fatalf("every rule must name its one object: %+v", rule)
		}
		for _, v := range rule.Verbs {
			if v == "list" || v == "watch" || v == "create" || v == "delete" || v == "*" {
				t.Fatalf("a worker may not %s: %+v", v, rule)
			}
		}
	}
	if role.Rules[2].ResourceNames[0] != "who" || rb.Subjects[0].Name != role.Name {
		t.Fatalf("unexpected worker RBAC: %+v %+v", role.Rules, rb.Subjects)
	}
}

func TestNetworkPoliciesDenyByDefault(t *testing.T) {
	tn := tenantWith(v1alpha1.DatabaseEngineMySQL, 1)
	pols := desiredNetworkPolicies(tn, DefaultNetworkOptions())
	deny := pols[0]
	if len(deny.Spec.PodSelector.MatchLabels)+len(deny.Spec.PodSelector.MatchExpressions) != 0 || len(deny.Spec.Ingress) != 0 || len(deny.Spec.PolicyTypes) != 2 {
		t.Fatalf("the first policy must select every pod, for ingress and egress, and admit no ingress: %+v", deny.Spec)
	}
	if len(deny.Spec.Egress) != 1 || len(deny.Spec.Egress[0].To) != 1 || deny.Spec.Egress[0].To[0].PodSelector == nil ||
		deny.Spec.Egress[0].To[0].PodSelector.MatchLabels["k8s-app"] != "kube-dns" || len(deny.Spec.Egress[0].Ports) != 2 {
		t.Fatalf("the first policy must let every pod out only to the cluster DNS: %+v", deny.Spec.Egress)
	}
	for _, p := range deny.Spec.Egress[0].Ports {
		if p.Port.IntValue() != 53 {
			t.Fatalf("DNS egress on port %s", p.Port)
		}
	}
	if len(pols) != 5 {
		t.Fatalf("want 5 policies, got %d", len(pols))
	}
	api := pols[4]
	if got := api.Spec.PodSelector.MatchExpressions; api.Name != "inboxchat-allow-workers-to-apiserver" || len(got) != 1 ||
		len(got[0].Values) != 1 || got[0].Values[0] != "worker" || len(api.Spec.Ingress) != 0 ||
		len(api.Spec.Egress) != 1 || len(api.Spec.Egress[0].Ports) != 1 || api.Spec.Egress[0].Ports[0].Port.IntValue() != 6443 {
		t.Fatalf("only the workers may reach the API server's own port, 6443 by default: %+v", api.Spec)
	}
	noAPI := DefaultNetworkOptions()
	noAPI.APIServerPorts = nil
	if got := desiredNetworkPolicies(tn, noAPI); len(got) != 4 {
		t.Fatalf("without API server ports, want 4 policies, got %d", len(got))
	}
	ingress := pols[1]
	if got := ingress.Spec.PodSelector.MatchExpressions; len(got) != 1 || len(got[0].Values) != 2 || len(ingress.Spec.Ingress) != 1 ||
		len(ingress.Spec.Ingress[0].Ports) != 1 || ingress.Spec.Ingress[0].Ports[0].Port.IntValue() != 8080 || len(ingress.Spec.Egress) != 0 {
		t.Fatalf("only the app and the unsubscribe server take traffic from the ingress controller, on 8080: %+v", ingress.Spec)
	}
	var storeRule *networkingv1.NetworkPolicy
	for _, p := range pols {
		if p.Name == "inboxchat-allow-clients-to-stores" {
			storeRule = p
		}
	}
	if storeRule == nil || storeRule.Spec.Ingress[0].Ports[0].Port.IntValue() != 3306 {
		t.Fatalf("a MySQL tenant's stores must accept clients on 3306: %+v", storeRule)
	}
}

func TestPDBOnlyWithSeveralReplicasAndSuspendScalesToZero(t *testing.T) {
	tn := tenantWith(v1alpha1.DatabaseEnginePostgres, 3)
	if appReplicas(tn) != 3 {
		t.Fatal("replicas not taken from the spec")
	}
	tn.Spec.Suspend = true
	if *desiredAppDeployment(tn).Spec.Replicas != 0 {
		t.Fatal("a suspended tenant's app must scale to zero")
	}
	ing := desiredIngress(tn, DefaultIngressOptions())
	if len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].Hosts[0] != "chat.acme.example" || ing.Annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"] != "true" {
		t.Fatalf("the Ingress must serve the host over TLS only: %+v", ing)
	}
}

// The notify worker gets the document's address from the operator: its Role
// grants no ConfigMap, so it cannot read the published one.
func TestPolicyWorkerGetsTheDocumentAddress(t *testing.T) {
	tn := tenantWith(v1alpha1.DatabaseEnginePostgres, 1)
	tn.Spec.App.Host = "chat.acme.example"
	for _, tc := range []struct {
		name string
		spec v1alpha1.PolicyUpdateSpec
		want string
	}{
		{"documentURL", v1alpha1.PolicyUpdateSpec{Version: "7", DocumentURL: "https://acme.example/p7"}, "https://acme.example/p7"},
		{"documentRef", v1alpha1.PolicyUpdateSpec{Version: "7", DocumentRef: &v1alpha1.ConfigMapKeyReference{Name: "docs", Key: "p7.md"}}, "https://chat.acme.example/privacy/7"},
	} {
		pu := &v1alpha1.PolicyUpdate{ObjectMeta: metav1.ObjectMeta{Name: "p7", Namespace: "tenant-acme"}, Spec: tc.spec}
		w := policyWorker(pu, tn)
		got := ""
		for _, e := range w.env {
			if e.Name == "INBOXCHAT_POLICY_DOCUMENT_URL" {
				got = e.Value
			}
		}
		if got != tc.want {
			t.Errorf("%s: INBOXCHAT_POLICY_DOCUMENT_URL = %q, want %q", tc.name, got, tc.want)
		}
		_, role, _ := desiredWorkerRBAC(w)
		for _, r := range role.Rules {
			for _, res := range r.Resources {
				if res == "configmaps" {
					t.Errorf("%s: the notify worker's Role grants configmaps", tc.name)
				}
			}
		}
	}
}

// A worker that refuses (exit WorkerExitRefused) fails its Job at once; a
// drained node's pod does not count against the backoff limit.
func TestWorkerJobsFailAtOnceOnARefusal(t *testing.T) {
	tn := tenantWith(v1alpha1.DatabaseEnginePostgres, 1)
	for _, job := range []*batchv1.Job{desiredMigrateJob(tn, DefaultWorkerOptions()), func() *batchv1.Job {
		_, _, _, _, j := desiredTenantWorker(tn, DefaultWorkerOptions(), "offboard", "report")
		return j
	}()} {
		p := job.Spec.PodFailurePolicy
		container := job.Spec.Template.Spec.Containers[0].Name
		if p == nil || len(p.Rules) != 2 || p.Rules[0].Action != batchv1.PodFailurePolicyActionFailJob || p.Rules[0].OnExitCodes == nil ||
			*p.Rules[0].OnExitCodes.ContainerName != container || !slices.Equal(p.Rules[0].OnExitCodes.Values, []int32{WorkerExitRefused}) {
			t.Fatalf("Job %s: the first rule must fail it on exit %d of container %s: %+v", job.Name, WorkerExitRefused, container, p)
		}
		if r := p.Rules[1]; r.Action != batchv1.PodFailurePolicyActionIgnore || len(r.OnPodConditions) != 1 || r.OnPodConditions[0].Type != corev1.DisruptionTarget {
			t.Fatalf("Job %s: the second rule must ignore disrupted pods: %+v", job.Name, r)
		}
		if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
			t.Fatalf("Job %s: a pod failure policy needs restartPolicy Never", job.Name)
		}
	}
}
