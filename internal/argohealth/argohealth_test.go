package argohealth_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/argohealth"
)

var update = flag.Bool("update", false, "rewrite charts/inboxchat-operator/docs/argocd-values.yaml from the scripts")

const (
	healthDir  = "../../charts/inboxchat-operator/docs/health"
	valuesFile = "../../charts/inboxchat-operator/docs/argocd-values.yaml"
)

func scripts(t *testing.T) map[string]string {
	t.Helper()
	s, err := argohealth.LoadScripts(healthDir)
	if err != nil {
		t.Fatalf("reading the health checks: %v", err)
	}
	return s
}

// The conditions each kstatus verdict leaves on an object, as the
// controllers' markReady, markReconciling and markStalled write them.
func ready(reason, msg string) []metav1.Condition {
	return []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: reason, Message: msg}}
}

func reconciling(reason, msg string) []metav1.Condition {
	return []metav1.Condition{
		{Type: v1alpha1.ConditionReconciling, Status: metav1.ConditionTrue, Reason: reason, Message: msg},
		{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: reason, Message: msg},
	}
}

func stalled(reason, msg string) []metav1.Condition {
	return []metav1.Condition{
		{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: reason, Message: msg},
		{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: reason, Message: msg},
	}
}

// fill gives every condition the fields the API server requires.
func fill(conds []metav1.Condition, generation int64) []metav1.Condition {
	for i := range conds {
		conds[i].ObservedGeneration = generation
		conds[i].LastTransitionTime = metav1.NewTime(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	}
	return conds
}

// unstructuredOf turns a typed object into what Argo CD hands a script: the
// object's JSON decoded as Kubernetes unstructured (int64 numbers).
func unstructuredOf(t *testing.T, obj runtime.Object) *unstructured.Unstructured {
	t.Helper()
	data, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		t.Fatal(err)
	}
	return u
}

var typeMeta = func(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: kind}
}

func tenant(generation, observed int64, suspend bool, conds []metav1.Condition) *v1alpha1.Tenant {
	tn := &v1alpha1.Tenant{
		TypeMeta:   typeMeta("Tenant"),
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Generation: generation},
		Spec: v1alpha1.TenantSpec{
			App:     v1alpha1.AppSpec{Image: "ghcr.io/inboxchat/app:1.4.2", Host: "demo.inboxchat.example"},
			Stores:  v1alpha1.StoresSpec{Database: v1alpha1.DatabaseStore{Managed: &v1alpha1.ManagedDatabase{Engine: v1alpha1.DatabaseEnginePostgres}}},
			Suspend: suspend,
		},
	}
	tn.Status.ObservedGeneration = observed
	tn.Status.Conditions = fill(conds, observed)
	return tn
}

func broadcast(generation, observed int64, suspend bool, phase v1alpha1.BroadcastPhase, conds []metav1.Condition) *v1alpha1.Broadcast {
	bc := &v1alpha1.Broadcast{
		TypeMeta:   typeMeta("Broadcast"),
		ObjectMeta: metav1.ObjectMeta{Name: "december-news", Namespace: "tenant-demo", Generation: generation},
		Spec:       v1alpha1.BroadcastSpec{Message: v1alpha1.BroadcastMessage{Text: "Hi {{.FirstName}}"}, Suspend: suspend},
	}
	bc.Status.ObservedGeneration = observed
	bc.Status.Phase = phase
	bc.Status.Conditions = fill(conds, observed)
	return bc
}

func erasure(generation, observed int64, phase v1alpha1.ErasurePhase, message string, conds []metav1.Condition) *v1alpha1.ErasureRequest {
	er := &v1alpha1.ErasureRequest{
		TypeMeta:   typeMeta("ErasureRequest"),
		ObjectMeta: metav1.ObjectMeta{Name: "adios-lead-1001", Namespace: "tenant-demo", Generation: generation},
		Spec:       v1alpha1.ErasureRequestSpec{Subject: v1alpha1.ErasureSubject{Kind: v1alpha1.SubjectLead, ID: "1001"}, Mode: v1alpha1.ErasureModeExportThenErase},
	}
	er.Status.ObservedGeneration = observed
	er.Status.Phase = phase
	er.Status.Message = message
	er.Status.Conditions = fill(conds, observed)
	return er
}

func policy(generation, observed int64, phase v1alpha1.PolicyPhase, supersededBy string, conds []metav1.Condition) *v1alpha1.PolicyUpdate {
	pu := &v1alpha1.PolicyUpdate{
		TypeMeta:   typeMeta("PolicyUpdate"),
		ObjectMeta: metav1.ObjectMeta{Name: "privacy-2026-12", Namespace: "tenant-demo", Generation: generation},
		Spec: v1alpha1.PolicyUpdateSpec{Version: "2026-12", EffectiveAt: metav1.NewTime(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)),
			DocumentURL: "https://demo.inboxchat.example/privacy/2026-12", Summary: "Security logs are kept for 30 days."},
	}
	pu.Status.ObservedGeneration = observed
	pu.Status.Phase = phase
	pu.Status.SupersededBy = supersededBy
	pu.Status.Conditions = fill(conds, observed)
	return pu
}

type healthCase struct {
	name string
	obj  runtime.Object
	// want is Argo CD's verdict, and message a part of its message.
	want, message string
	// kstatus is kstatus's verdict on the same object. The two agree but
	// where a phase says more than the conditions (Paused is Suspended, a
	// Failed written by the worker is Degraded at once), and on an object
	// without any status: kstatus cannot tell that this API always sets
	// status.observedGeneration, so it calls that Current; the health checks
	// call it Progressing, since the operator has not looked at it yet.
	kstatus kstatus.Status
}

func healthCases() map[string][]healthCase {
	const (
		current    = kstatus.CurrentStatus
		inProgress = kstatus.InProgressStatus
		failed     = kstatus.FailedStatus
		// unobserved is kstatus's verdict on an object with no status at all.
		unobserved = kstatus.CurrentStatus
	)
	noTenantMsg := "namespace default is not a tenant namespace (no Tenant provisions it); create InboxChat objects in a namespace tenant-<name>"
	return map[string][]healthCase{
		"Tenant": {
			{"just created, no status yet", tenant(1, 0, false, nil), argohealth.Progressing, "observe the latest generation", unobserved},
			{"spec changed, not observed yet", tenant(3, 2, false, ready("Provisioned", "the tenant is provisioned and serving at https://demo.inboxchat.example")), argohealth.Progressing, "observe the latest generation", inProgress},
			{"provisioning", tenant(1, 1, false, reconciling("Progressing", "waiting for StoresReady, AppAvailable")), argohealth.Progressing, "waiting for StoresReady, AppAvailable", inProgress},
			{"provisioned", tenant(1, 1, false, ready("Provisioned", "the tenant is provisioned and serving at https://demo.inboxchat.example")), argohealth.Healthy, "serving at https://demo.inboxchat.example", current},
			{"namespace refused", tenant(1, 1, false, stalled("NamespaceConflict", "namespace tenant-demo already exists and is not labelled inboxchat.io/tenant=demo; label it to let this Tenant adopt it, or choose another Tenant name")), argohealth.Degraded, "NamespaceConflict: namespace tenant-demo already exists", failed},
			{"suspended", tenant(2, 2, true, ready("Suspended", "the tenant is provisioned and suspended: the app is scaled to zero and no new Jobs start")), argohealth.Suspended, "suspended", current},
			{"suspended while still provisioning", tenant(2, 2, true, reconciling("Progressing", "waiting for StoresReady")), argohealth.Suspended, "waiting for StoresReady", inProgress},
			{"suspended and stalled", tenant(2, 2, true, stalled("SecretMissing", "Secret tenant-demo/demo-database named by spec.stores.database.external.secretRef lacks the key(s) dsn")), argohealth.Degraded, "SecretMissing", failed},
			{"erasure on deletion not confirmed", tenant(1, 1, false, stalled("ErasureNotConfirmed", "deleting this Tenant erases all of its data irreversibly; to proceed, annotate it inboxchat.io/confirm-erase=demo")), argohealth.Degraded, "inboxchat.io/confirm-erase=demo", failed},
		},
		"Broadcast": {
			{"just created", broadcast(1, 0, false, "", nil), argohealth.Progressing, "observe the latest generation", unobserved},
			{"scheduled", broadcast(1, 1, false, v1alpha1.BroadcastScheduled, reconciling("Scheduled", "starts at 2026-12-24T09:00:00Z")), argohealth.Progressing, "starts at 2026-12-24T09:00:00Z", inProgress},
			{"waiting for the tenant", broadcast(1, 1, false, v1alpha1.BroadcastPending, reconciling("WaitingForTenant", "waiting for tenant demo to be Ready")), argohealth.Progressing, "WaitingForTenant", inProgress},
			{"running", broadcast(1, 1, false, v1alpha1.BroadcastRunning, reconciling("Running", "sent 120 of 1000")), argohealth.Progressing, "sent 120 of 1000", inProgress},
			{"pause asked, not observed yet", broadcast(2, 1, true, v1alpha1.BroadcastRunning, reconciling("Running", "sent 120 of 1000")), argohealth.Progressing, "observe the latest generation", inProgress},
			{"paused by spec.suspend", broadcast(2, 2, true, v1alpha1.BroadcastPaused, reconciling("Paused", "paused by spec.suspend; clear it to resume")), argohealth.Suspended, "clear it to resume", inProgress},
			{"paused automatically for too many failures", broadcast(1, 1, false, v1alpha1.BroadcastPaused, stalled("FailureRatioExceeded", "paused automatically: (#200) Permissions error (Graph error 200); annotate inboxchat.io/retry=<any new value> to resume")), argohealth.Degraded, "FailureRatioExceeded", failed},
			{"no messenger on the tenant", broadcast(1, 1, false, v1alpha1.BroadcastPending, stalled("MessengerNotConfigured", "tenant demo has no spec.messenger; set the Page and its access token to send broadcasts")), argohealth.Degraded, "MessengerNotConfigured", failed},
			{"succeeded", broadcast(1, 1, false, v1alpha1.BroadcastSucceeded, ready("Succeeded", "sent 990 of 1000 (10 failed, 0 unsubscribed, 0 outside the 24-hour window)")), argohealth.Healthy, "sent 990 of 1000", current},
			{"failed", broadcast(1, 1, false, v1alpha1.BroadcastFailed, stalled("BroadcastFailed", "the message template is invalid: template: message:1: function \"Foo\" not defined")), argohealth.Degraded, "the message template is invalid", failed},
			{"failed, written by the worker before the operator's verdict", func() runtime.Object {
				bc := broadcast(1, 1, false, v1alpha1.BroadcastFailed, reconciling("Running", "sent 5 of 1000"))
				bc.Status.LastError = &v1alpha1.BroadcastError{Code: 190, Text: "the Page access token has expired"}
				return bc
			}(), argohealth.Degraded, "the Page access token has expired", inProgress},
		},
		"ErasureRequest": {
			{"just created", erasure(1, 0, "", "", nil), argohealth.Progressing, "observe the latest generation", unobserved},
			{"waiting for the tenant", erasure(1, 1, v1alpha1.ErasurePending, "", reconciling("WaitingForTenant", "waiting for tenant demo to be Ready")), argohealth.Progressing, "WaitingForTenant", inProgress},
			{"exporting", erasure(1, 1, v1alpha1.ErasureExporting, "", reconciling("Exporting", "the erase worker is running (phase Exporting)")), argohealth.Progressing, "phase Exporting", inProgress},
			{"erasing", erasure(1, 1, v1alpha1.ErasureErasing, "", reconciling("Erasing", "the erase worker is running (phase Erasing)")), argohealth.Progressing, "phase Erasing", inProgress},
			{"verifying", erasure(1, 1, v1alpha1.ErasureVerifying, "", reconciling("Verifying", "the erase worker is running (phase Verifying)")), argohealth.Progressing, "phase Verifying", inProgress},
			{"subject Secret invalid", erasure(1, 1, v1alpha1.ErasurePending, "", stalled("SubjectSecretInvalid", "the subject Secret subject-1001 must hold exactly one of the keys [psid id] for a Lead")), argohealth.Degraded, "SubjectSecretInvalid", failed},
			{"not in a tenant namespace", erasure(1, 1, v1alpha1.ErasurePending, "", stalled("NotInTenantNamespace", noTenantMsg)), argohealth.Degraded, noTenantMsg, failed},
			{"completed", erasure(1, 1, v1alpha1.ErasureCompleted, "", ready("Completed", "erased 42 records across 3 stores, retained 2, verified by re-query")), argohealth.Healthy, "verified by re-query", current},
			{"failed", erasure(1, 1, v1alpha1.ErasureFailed, "store database still holds 1 records of the subject after erasure",
				stalled("ErasureFailed", "store database still holds 1 records of the subject after erasure; annotate inboxchat.io/retry=<any new value> to try again")), argohealth.Degraded, "inboxchat.io/retry", failed},
			{"failed, written by the worker before the operator's verdict", erasure(1, 1, v1alpha1.ErasureFailed, "store sessions is unreachable",
				reconciling("Erasing", "the erase worker is running (phase Erasing)")), argohealth.Degraded, "store sessions is unreachable", inProgress},
		},
		"PolicyUpdate": {
			{"just created", policy(1, 0, "", "", nil), argohealth.Progressing, "observe the latest generation", unobserved},
			{"scheduled", policy(1, 1, v1alpha1.PolicyPending, "", reconciling("Scheduled", "takes effect at 2026-12-01T00:00:00Z")), argohealth.Progressing, "takes effect at", inProgress},
			{"notifying", policy(1, 1, v1alpha1.PolicyNotifying, "", reconciling("Notifying", "e-mailed 10 of 250 users")), argohealth.Progressing, "e-mailed 10 of 250 users", inProgress},
			{"published", policy(1, 1, v1alpha1.PolicyPublished, "", ready("Published", "version 2026-12 is in effect; e-mailed 250 of 250 users (0 failed)")), argohealth.Healthy, "is in effect", current},
			{"superseded", policy(1, 1, v1alpha1.PolicySuperseded, "privacy-2027-03", ready("Superseded", "superseded by privacy-2027-03")), argohealth.Healthy, "Superseded by PolicyUpdate privacy-2027-03", current},
			{"summary edited after superseded, not observed yet", policy(2, 1, v1alpha1.PolicySuperseded, "privacy-2027-03", ready("Superseded", "superseded by privacy-2027-03")), argohealth.Progressing, "observe the latest generation", inProgress},
			{"duplicate version", policy(1, 1, v1alpha1.PolicyPending, "", stalled("DuplicateVersion", "version 2026-12 is already published by PolicyUpdate privacy-dec; a version is published once per tenant")), argohealth.Degraded, "DuplicateVersion", failed},
			{"no SMTP", policy(1, 1, v1alpha1.PolicyPending, "", stalled("NotificationsNotConfigured", "version 2026-12 is published, but tenant demo has no spec.notifications.smtpSecretRef, so its users cannot be e-mailed")), argohealth.Degraded, "smtpSecretRef", failed},
			{"notify failed", policy(1, 1, v1alpha1.PolicyFailed, "", stalled("NotifyFailed", "the worker Job inboxchat-notify-privacy-2026-12 failed: BackoffLimitExceeded")), argohealth.Degraded, "NotifyFailed", failed},
		},
	}
}

func TestHealthChecks(t *testing.T) {
	s := scripts(t)
	for kind, cases := range healthCases() {
		for _, c := range cases {
			t.Run(kind+"/"+c.name, func(t *testing.T) {
				u := unstructuredOf(t, c.obj)
				if u.GetKind() != kind {
					t.Fatalf("case object is a %s, not a %s", u.GetKind(), kind)
				}
				got, err := argohealth.Evaluate(s[kind], u.Object)
				if err != nil {
					t.Fatalf("the %s health check failed to run: %v", kind, err)
				}
				if got.Status != c.want {
					t.Errorf("health = %s (%q), want %s", got.Status, got.Message, c.want)
				}
				if !strings.Contains(got.Message, c.message) {
					t.Errorf("message %q does not say %q", got.Message, c.message)
				}
				res, err := kstatus.Compute(u)
				if err != nil {
					t.Fatal(err)
				}
				if res.Status != c.kstatus {
					t.Errorf("kstatus = %s (%s), want %s", res.Status, res.Message, c.kstatus)
				}
			})
		}
	}
}

// TestHealthChecksCoverEveryPhase makes sure a phase added to the API gets a
// case here (and a thought about its health).
func TestHealthChecksCoverEveryPhase(t *testing.T) {
	all := map[string][]string{
		"Broadcast": {string(v1alpha1.BroadcastPending), string(v1alpha1.BroadcastScheduled), string(v1alpha1.BroadcastRunning),
			string(v1alpha1.BroadcastPaused), string(v1alpha1.BroadcastSucceeded), string(v1alpha1.BroadcastFailed)},
		"ErasureRequest": {string(v1alpha1.ErasurePending), string(v1alpha1.ErasureExporting), string(v1alpha1.ErasureErasing),
			string(v1alpha1.ErasureVerifying), string(v1alpha1.ErasureCompleted), string(v1alpha1.ErasureFailed)},
		"PolicyUpdate": {string(v1alpha1.PolicyPending), string(v1alpha1.PolicyNotifying), string(v1alpha1.PolicyPublished),
			string(v1alpha1.PolicySuperseded), string(v1alpha1.PolicyFailed)},
	}
	// The enum markers are the API's list of phases; they must match the list above.
	for file, kind := range map[string]string{"broadcast_types.go": "Broadcast", "erasurerequest_types.go": "ErasureRequest", "policyupdate_types.go": "PolicyUpdate"} {
		src, err := os.ReadFile(filepath.Join("../../api/v1alpha1", file))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^// \+kubebuilder:validation:Enum=(.*)\ntype \w+Phase string`).FindSubmatch(src)
		if m == nil {
			t.Fatalf("%s: no phase enum marker found", file)
		}
		if got, want := string(m[1]), strings.Join(all[kind], ";"); got != want {
			t.Errorf("%s phases are %s in the API, %s here: add health cases for the new ones", kind, got, want)
		}
	}
	cases := healthCases()
	for kind, phases := range all {
		seen := map[string]bool{}
		for _, c := range cases[kind] {
			u := unstructuredOf(t, c.obj)
			p, _, _ := unstructured.NestedString(u.Object, "status", "phase")
			seen[p] = true
		}
		for _, p := range phases {
			if !seen[p] {
				t.Errorf("no %s health case in phase %s", kind, p)
			}
		}
	}
}

// TestHealthChecksUseOnlyTheBaseLibrary: Argo CD opens only the base, table
// and package libraries for custom health checks (string and math only with
// useOpenLibs), so a branch that calls string.find would fail in Argo CD even
// if no case here reaches it.
func TestHealthChecksUseOnlyTheBaseLibrary(t *testing.T) {
	banned := regexp.MustCompile(`\b(string|math|io|os|debug|coroutine|require|load|loadstring|dofile)\b\s*[.(:]|:\w+\(`)
	for kind, src := range scripts(t) {
		for i, line := range strings.Split(src, "\n") {
			code, _, _ := strings.Cut(line, "--")
			if banned.MatchString(code) {
				t.Errorf("%s line %d uses a library Argo CD does not open for custom checks: %s", kind, i+1, strings.TrimSpace(line))
			}
		}
		if !strings.Contains(src, "return hs") {
			t.Errorf("%s: the script must return its health table", kind)
		}
	}
}

func TestEvaluateRejectsBadScripts(t *testing.T) {
	obj := map[string]any{"metadata": map[string]any{"name": "x"}}
	for name, script := range map[string]string{
		"unknown status":   `return {status = "Fine"}`,
		"not a table":      `return "Healthy"`,
		"string library":   `local hs = {status = "Healthy"}; hs.message = string.upper("x"); return hs`,
		"endless loop":     `while true do end`,
		"message not text": `return {status = "Healthy", message = {}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if h, err := argohealth.Evaluate(script, obj); err == nil {
				t.Fatalf("Evaluate accepted the script and returned %+v", h)
			}
		})
	}
}

// TestArgoCDValues keeps docs/argocd-values.yaml generated from the scripts:
// every argocd-cm key holds its script verbatim.
func TestArgoCDValues(t *testing.T) {
	s := scripts(t)
	want := argohealth.ArgoCDValues(s)
	if *update {
		if err := os.WriteFile(valuesFile, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(valuesFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s is stale; run: go test ./internal/argohealth -run TestArgoCDValues -update", valuesFile)
	}
	var values struct {
		Configs struct {
			CM map[string]string `json:"cm"`
		} `json:"configs"`
	}
	if err := yaml.Unmarshal(got, &values); err != nil {
		t.Fatalf("%s is not YAML: %v", valuesFile, err)
	}
	for _, kind := range argohealth.Kinds {
		key := argohealth.ConfigMapKey(kind)
		if values.Configs.CM[key] != s[kind] {
			t.Errorf("configs.cm[%q] is not the %s health check verbatim", key, kind)
		}
	}
	if len(values.Configs.CM) != len(argohealth.Kinds) {
		t.Errorf("configs.cm has %d keys, want one per kind (%d)", len(values.Configs.CM), len(argohealth.Kinds))
	}
}
