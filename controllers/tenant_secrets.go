package controllers

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/crypto"
)

// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete

// secretRef is a Secret key a Tenant refers to.
type secretRef struct {
	field, name string
	keys        []string
}

// referencedSecrets lists the Secrets the Tenant's spec names, with the keys
// the operator and the app read from them.
func referencedSecrets(t *v1alpha1.Tenant) []secretRef {
	var refs []secretRef
	if ext := t.Spec.Stores.Database.External; ext != nil {
		refs = append(refs, secretRef{"spec.stores.database.external.secretRef", ext.SecretRef.Name, []string{"dsn"}})
	}
	if s := t.Spec.Stores.Sessions; s != nil && s.External != nil {
		refs = append(refs, secretRef{"spec.stores.sessions.external.secretRef", s.External.SecretRef.Name, []string{"url"}})
	}
	if m := t.Spec.Messenger; m != nil {
		refs = append(refs, secretRef{"spec.messenger.accessTokenSecretRef", m.AccessTokenSecretRef.Name, []string{"accessToken"}})
	}
	if n := t.Spec.Notifications.SMTPSecretRef; n != nil {
		refs = append(refs, secretRef{"spec.notifications.smtpSecretRef", n.Name, []string{"host", "port", "from"}})
	}
	return refs
}

// checkReferencedSecrets reads the referenced Secrets through the API (they
// are the users' and are not cached) and describes what is missing. Values
// are never logged or reported.
func (r *TenantReconciler) checkReferencedSecrets(ctx context.Context, t *v1alpha1.Tenant) ([]string, error) {
	var problems []string
	for _, ref := range referencedSecrets(t) {
		s := &corev1.Secret{}
		err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: t.NamespaceName(), Name: ref.name}, s)
		if apierrors.IsNotFound(err) {
			problems = append(problems, fmt.Sprintf("Secret %s/%s named by %s does not exist", t.NamespaceName(), ref.name, ref.field))
			continue
		}
		if err != nil {
			return nil, err
		}
		var missing []string
		for _, k := range ref.keys {
			if len(s.Data[k]) == 0 {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			problems = append(problems, fmt.Sprintf("Secret %s/%s named by %s lacks the key(s) %s", t.NamespaceName(), ref.name, ref.field, strings.Join(missing, ", ")))
		}
	}
	return problems, nil
}

// stalledBackoff is when a Tenant stalled on something outside its spec (a
// missing Secret, an unknown issuer) looks again: doubling with the time
// stalled, from 5 s to 5 min, so it is neither a hot loop nor forgotten. It
// measures wall-clock time, as the condition's lastTransitionTime does.
func (r *TenantReconciler) stalledBackoff(t *v1alpha1.Tenant) *ctrl.Result {
	wait := 5 * time.Second
	if c := meta.FindStatusCondition(t.Status.Conditions, v1alpha1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue {
		wait = max(wait, time.Since(c.LastTransitionTime.Time))
	}
	return requeueAfter(min(wait, 5*time.Minute))
}

// reconcileSecrets checks the referenced Secrets and makes the generated ones:
// the app secret, the keyring (rotated when due) and the managed stores'
// credentials. Generated values are made once and never overwritten.
func (r *TenantReconciler) reconcileSecrets(ctx context.Context, t *v1alpha1.Tenant) (*ctrl.Result, error) {
	problems, err := r.checkReferencedSecrets(ctx, t)
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		msg := strings.Join(problems, "; ")
		setCondition(t, v1alpha1.ConditionSecretsReady, metav1.ConditionFalse, "SecretMissing", msg)
		markStalled(t, "SecretMissing", msg)
		return r.stalledBackoff(t), nil
	}
	ns := t.NamespaceName()
	generated := []generatedSecret{{appSecretName, []string{"unsubscribe-key", "blind-index-key"}, func() map[string][]byte {
		return map[string][]byte{
			"session-key":     []byte(crypto.GenerateSecret(32)),
			"unsubscribe-key": []byte(crypto.GenerateSecret(32)),
			"blind-index-key": []byte(crypto.GenerateSecret(32)),
		}
	}}}
	if t.Spec.Stores.Database.Managed != nil {
		host := fmt.Sprintf("%s.%s.svc", dbName, ns)
		generated = append(generated, generatedSecret{dbSecretName, []string{"password", "root-password"}, func() map[string][]byte {
			pw := crypto.GenerateSecret(24)
			return map[string][]byte{
				"username":      []byte(databaseUser),
				"password":      []byte(pw),
				"root-password": []byte(crypto.GenerateSecret(24)),
				"dsn":           []byte(databaseDSN(t.Spec.Stores.Database.Managed.Engine, host, pw)),
			}
		}})
	}
	if managedSessions(t) {
		generated = append(generated, generatedSecret{redisSecretName, []string{"password"}, func() map[string][]byte {
			pw := crypto.GenerateSecret(24)
			return map[string][]byte{
				"password":   []byte(pw),
				"url":        []byte(fmt.Sprintf("rediss://:%s@%s.%s.svc:6379/0", url.QueryEscape(pw), redisName, ns)),
				"redis.conf": []byte(redisConfig(pw)),
			}
		}})
	}
	var made []string
	defer func() {
		if len(made) > 0 {
			r.event(t, corev1.EventTypeNormal, "SecretsGenerated", "Generate", "generated Secrets %s in %s", strings.Join(made, ", "), ns)
		}
	}()
	for _, g := range generated {
		created, lost, err := r.ensureGeneratedSecret(ctx, t, g.name, g.irreplaceable, g.generate)
		if err != nil {
			return nil, err
		}
		if created {
			made = append(made, g.name)
		}
		if len(lost) > 0 {
			msg := fmt.Sprintf("the key(s) %s of the generated Secret %s/%s were removed; restore them from a backup -- a new value would break what the old one protects (sent unsubscribe links, blind indexes, store credentials)",
				strings.Join(lost, ", "), ns, g.name)
			setCondition(t, v1alpha1.ConditionSecretsReady, metav1.ConditionFalse, "SecretKeyLost", msg)
			markStalled(t, "SecretKeyLost", msg)
			return r.stalledBackoff(t), nil
		}
	}
	if stop, err := r.reconcileKeyring(ctx, t); stop != nil || err != nil {
		return stop, err
	}
	setCondition(t, v1alpha1.ConditionSecretsReady, metav1.ConditionTrue, "SecretsReady", "generated secrets exist and referenced secrets are present")
	return nil, nil
}

// generatedSecret is a Secret the operator makes once, with the keys that
// must never be regenerated.
type generatedSecret struct {
	name          string
	irreplaceable []string
	generate      func() map[string][]byte
}

// databaseDSN is the connection string of a managed database, over TLS
// verified against the operator's CA mounted at /etc/inboxchat/store-tls.
func databaseDSN(engine v1alpha1.DatabaseEngine, host, password string) string {
	if engine == v1alpha1.DatabaseEngineMySQL {
		return fmt.Sprintf("%s:%s@tcp(%s:3306)/%s?tls=inboxchat&parseTime=true", databaseUser, password, host, databaseName)
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(databaseUser, password), Host: host + ":5432", Path: databaseName,
		RawQuery: "sslmode=verify-full&sslrootcert=/etc/inboxchat/store-tls/ca.crt"}
	return u.String()
}

// redisConfig is the managed Redis configuration: TLS only, a password,
// append-only persistence.
func redisConfig(password string) string {
	return strings.Join([]string{
		"port 0",
		"tls-port 6379",
		"tls-cert-file /tls/tls.crt",
		"tls-key-file /tls/tls.key",
		"tls-ca-cert-file /tls/ca.crt",
		"tls-auth-clients no",
		"requirepass " + password,
		"dir /data",
		"appendonly yes",
		"",
	}, "\n")
}

// getOwnedSecret reads a generated Secret, data included, through the API:
// the cache keeps only the Secrets' metadata, and a Secret retained by an
// earlier Tenant of this name is not in it at all. (Keeping the data of
// every tenant's Secrets in memory, to read each version once, saved reads
// but cost 28 MiB of peak RSS at 1,000 Tenants and no measurable time.)
func (r *TenantReconciler) getOwnedSecret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
		return nil, err
	}
	return s, nil
}

// cachedOwnedSecret is getOwnedSecret, except that a Secret the cache does
// not hold is reported NotFound without asking the API. It is for callers
// that then create the Secret, and on AlreadyExists (a Secret the cache had
// not seen yet, or one retained by an earlier Tenant) read it with
// getOwnedSecret: a first pass makes no read that can only answer 404.
func (r *TenantReconciler) cachedOwnedSecret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	key := client.ObjectKey{Namespace: ns, Name: name}
	if err := r.Get(ctx, key, &corev1.Secret{}); err != nil {
		return nil, err
	}
	return r.getOwnedSecret(ctx, ns, name)
}

// ensureGeneratedSecret creates a Secret from generate when it does not
// exist. An existing Secret keeps its values and gets the Tenant's labels and
// owner back. A key missing from it is filled in, unless it is one of the
// irreplaceable keys -- a new value would break what the old one protects
// (sent unsubscribe links, stored blind indexes, an initialised database) --
// which are returned as lost instead.
func (r *TenantReconciler) ensureGeneratedSecret(ctx context.Context, t *v1alpha1.Tenant, name string, irreplaceable []string, generate func() map[string][]byte) (created bool, lost []string, err error) {
	ns := t.NamespaceName()
	if _, ok := r.secrets.lookup(ctx, r.Client, ns, name); ok {
		return false, nil, nil
	}
	cur, err := r.cachedOwnedSecret(ctx, ns, name)
	if apierrors.IsNotFound(err) {
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: tenantLabels(t)},
			Type:       corev1.SecretTypeOpaque,
			Data:       generate(),
		}
		if err := controllerutil.SetControllerReference(t, s, r.Scheme); err != nil {
			return false, nil, err
		}
		createErr := r.Create(ctx, s, fieldOwner)
		if createErr == nil {
			r.secrets.remember(s, secretFacts{}) // s is now as stored
			return true, nil, nil
		}
		if !apierrors.IsAlreadyExists(createErr) {
			return false, nil, fmt.Errorf("creating Secret %s/%s: %w", ns, name, createErr)
		}
		// It exists after all: keep its values.
		cur, err = r.getOwnedSecret(ctx, ns, name)
	}
	if err != nil {
		return false, nil, err
	}
	for _, k := range irreplaceable {
		if len(cur.Data[k]) == 0 {
			lost = append(lost, k)
		}
	}
	if len(lost) > 0 {
		return false, lost, nil
	}
	updated := cur.DeepCopy()
	for k, v := range generate() {
		if _, ok := updated.Data[k]; !ok {
			if updated.Data == nil {
				updated.Data = map[string][]byte{}
			}
			updated.Data[k] = v
		}
	}
	if len(updated.Data) != len(cur.Data) {
		if err := r.Patch(ctx, updated, client.MergeFrom(cur), fieldOwner); err != nil {
			return false, nil, err
		}
		cur = updated
	}
	if err := r.adoptMetadata(ctx, t, cur, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Labels: tenantLabels(t)}}); err != nil {
		return false, nil, err
	}
	// Complete and adopted (a write above changed the hash, so the next
	// pass checks the Secret again).
	r.secrets.remember(cur, secretFacts{})
	return false, nil, nil
}
