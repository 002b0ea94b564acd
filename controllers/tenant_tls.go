package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/mail"
	"github.com/inboxchat/inboxchat-operator/internal/pki"
)

// +kubebuilder:rbac:groups=cert-manager.io,resources=certificates,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=cert-manager.io,resources=issuers;clusterissuers,verbs=get;list;watch

// Lifetimes of the certificates of the operator's own CA.
const (
	caValidity      = 10 * 365 * 24 * time.Hour
	servingValidity = 90 * 24 * time.Hour
)

var certificateGVK = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}

// operatorCA loads the operator's CA from its Secret in the operator
// namespace, creating it on first use. It is kept in memory after that.
type operatorCA struct {
	mu sync.Mutex
	ca *pki.CA
}

func (r *TenantReconciler) loadCA(ctx context.Context) (*pki.CA, error) {
	r.ca.mu.Lock()
	defer r.ca.mu.Unlock()
	if r.ca.ca != nil {
		return r.ca.ca, nil
	}
	ca, err := LoadOperatorCA(ctx, r.Client, r.APIReader, r.OperatorNamespace, r.Clock.Now())
	if err != nil {
		return nil, err
	}
	r.ca.ca = ca
	return ca, nil
}

// LoadOperatorCA reads the operator's CA from Secret inboxchat-ca in the
// operator namespace, creating it (valid for ten years from now) when it does
// not exist yet. Tenant serving certificates and the webhook server's
// certificate chain to it. Replicas racing to create it all end up with the
// one that was stored first.
func LoadOperatorCA(ctx context.Context, c client.Client, reader client.Reader, namespace string, now time.Time) (*pki.CA, error) {
	key := client.ObjectKey{Namespace: namespace, Name: caSecretName}
	s := &corev1.Secret{}
	err := reader.Get(ctx, key, s)
	if apierrors.IsNotFound(err) {
		ca, err := pki.NewCA("inboxchat-operator CA", now, caValidity)
		if err != nil {
			return nil, err
		}
		s = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: caSecretName, Namespace: namespace,
				Labels: map[string]string{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue}},
			Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: ca.CertPEM, corev1.TLSPrivateKeyKey: ca.KeyPEM},
		}
		err = c.Create(ctx, s, fieldOwner)
		if err == nil {
			return ca, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating the operator CA in namespace %s: %w", namespace, err)
		}
		err = reader.Get(ctx, key, s)
	}
	if err != nil {
		return nil, err
	}
	ca, err := pki.LoadCA(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return nil, fmt.Errorf("the operator CA in Secret %s is unusable: %w", key, err)
	}
	return ca, nil
}

// reconcileTLS gives the host a serving certificate (cert-manager or the
// operator's CA) and the managed stores their TLS certificate.
func (r *TenantReconciler) reconcileTLS(ctx context.Context, t *v1alpha1.Tenant) (*ctrl.Result, error) {
	var stop *ctrl.Result
	var err error
	if t.Spec.TLS.IssuerRef != nil {
		stop, err = r.reconcileCertManager(ctx, t)
	} else {
		stop, err = r.reconcileOwnCertificate(ctx, t)
	}
	if stop != nil || err != nil {
		return stop, err
	}
	return nil, r.reconcileStoreCertificate(ctx, t)
}

// reconcileOwnCertificate issues the host's certificate from the operator's
// CA and renews it at two thirds of its lifetime, or when the host changes.
func (r *TenantReconciler) reconcileOwnCertificate(ctx context.Context, t *v1alpha1.Tenant) (*ctrl.Result, error) {
	renewed, cert, err := r.ensureCertificateSecret(ctx, t, tlsSecretName, []string{t.Spec.App.Host})
	if err != nil {
		return nil, err
	}
	notAfter, renewAt := metav1.NewTime(cert.NotAfter), metav1.NewTime(cert.RenewAt)
	t.Status.Certificate = &v1alpha1.CertificateStatus{NotAfter: &notAfter, RenewAt: &renewAt, Issuer: "operator-ca"}
	if renewed {
		r.event(t, corev1.EventTypeNormal, "CertificateRenewed", "Renew", "renewed the certificate of %s; it expires %s", t.Spec.App.Host, cert.NotAfter.Format(time.RFC3339))
		r.notify(ctx, t, mail.KindCertificateRenewed, mail.CertificateRenewedData{Tenant: t.Name, Host: t.Spec.App.Host, Issuer: "the operator CA", NotAfter: cert.NotAfter})
	}
	setCondition(t, v1alpha1.ConditionCertificateReady, metav1.ConditionTrue, "Issued",
		fmt.Sprintf("certificate for %s from the operator CA, valid until %s", t.Spec.App.Host, cert.NotAfter.Format(time.RFC3339)))
	return nil, nil
}

// reconcileStoreCertificate gives the managed stores a TLS certificate.
func (r *TenantReconciler) reconcileStoreCertificate(ctx context.Context, t *v1alpha1.Tenant) error {
	ns := t.NamespaceName()
	var hosts []string
	for _, name := range []string{dbName, redisName} {
		hosts = append(hosts, name, name+"."+ns+".svc", name+"."+ns+".svc.cluster.local")
	}
	_, _, err := r.ensureCertificateSecret(ctx, t, storeTLSSecretName, hosts)
	return err
}

// issuedCertificate describes a certificate in a Secret.
type issuedCertificate struct{ NotAfter, RenewAt time.Time }

// ensureCertificateSecret keeps a kubernetes.io/tls Secret with a certificate
// for hosts from the operator's CA; it reports whether it renewed an
// existing certificate.
func (r *TenantReconciler) ensureCertificateSecret(ctx context.Context, t *v1alpha1.Tenant, name string, hosts []string) (bool, issuedCertificate, error) {
	renewed, info, err := r.ensureCertificateSecretFrom(ctx, t, name, hosts, r.cachedOwnedSecret)
	if apierrors.IsAlreadyExists(err) {
		// The cache had not seen the Secret yet: look again, through the API.
		return r.ensureCertificateSecretFrom(ctx, t, name, hosts, r.getOwnedSecret)
	}
	return renewed, info, err
}

// ensureCertificateSecretFrom is ensureCertificateSecret with the Secret read
// by get; creating a Secret that exists returns AlreadyExists unwrapped.
func (r *TenantReconciler) ensureCertificateSecretFrom(ctx context.Context, t *v1alpha1.Tenant, name string, hosts []string,
	get func(ctx context.Context, ns, name string) (*corev1.Secret, error)) (bool, issuedCertificate, error) {
	now := r.Clock.Now()
	if f, ok := r.secrets.lookup(ctx, r.Client, t.NamespaceName(), name); ok && f.certStillGood(hosts, now) {
		return false, *f.cert, nil
	}
	cur, err := get(ctx, t.NamespaceName(), name)
	if err != nil && !apierrors.IsNotFound(err) {
		return false, issuedCertificate{}, err
	}
	if err == nil && !pki.NeedsRenewal(cur.Data[corev1.TLSCertKey], now, hosts) {
		if err := r.adoptMetadata(ctx, t, cur, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Labels: tenantLabels(t)}}); err != nil {
			return false, issuedCertificate{}, err
		}
		info, err := describeCertificate(cur.Data[corev1.TLSCertKey])
		if err == nil {
			r.secrets.remember(cur, secretFacts{cert: &info, certHosts: hostsKey(hosts), checkedAt: now})
		}
		return false, info, err
	}
	ca, err := r.loadCA(ctx)
	if err != nil {
		return false, issuedCertificate{}, err
	}
	certPEM, keyPEM, err := ca.IssueServing(hosts, now, servingValidity)
	if err != nil {
		return false, issuedCertificate{}, err
	}
	desired := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: t.NamespaceName(), Labels: tenantLabels(t)},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM, "ca.crt": ca.CertPEM},
	}
	if err := controllerutil.SetControllerReference(t, desired, r.Scheme); err != nil {
		return false, issuedCertificate{}, err
	}
	renewed := cur != nil
	stored := desired
	if renewed {
		updated := cur.DeepCopy()
		updated.Data = desired.Data
		updated.Labels, updated.OwnerReferences = desired.Labels, desired.OwnerReferences
		// Optimistic lock: a renewal based on a stale cached copy fails
		// and retries instead of renewing (and notifying) twice.
		err = r.Patch(ctx, updated, client.MergeFromWithOptions(cur, client.MergeFromWithOptimisticLock{}), fieldOwner)
		stored = updated
	} else {
		err = r.Create(ctx, desired, fieldOwner)
	}
	if apierrors.IsAlreadyExists(err) {
		return false, issuedCertificate{}, err
	}
	if err != nil {
		return false, issuedCertificate{}, fmt.Errorf("writing certificate Secret %s: %w", name, err)
	}
	info, err := describeCertificate(certPEM)
	if err == nil {
		r.secrets.remember(stored, secretFacts{cert: &info, certHosts: hostsKey(hosts), checkedAt: now}) // stored is now as the server has it
	}
	return renewed, info, err
}

func describeCertificate(certPEM []byte) (issuedCertificate, error) {
	notAfter, err := pki.NotAfter(certPEM)
	if err != nil {
		return issuedCertificate{}, err
	}
	renewAt, err := pki.RenewAtPEM(certPEM)
	if err != nil {
		return issuedCertificate{}, err
	}
	return issuedCertificate{NotAfter: notAfter.Truncate(time.Second), RenewAt: renewAt.Truncate(time.Second)}, nil
}

// reconcileCertManager asks cert-manager for the host's certificate. A
// missing cert-manager or issuer stalls the Tenant with a message naming it.
func (r *TenantReconciler) reconcileCertManager(ctx context.Context, t *v1alpha1.Tenant) (*ctrl.Result, error) {
	ref := t.Spec.TLS.IssuerRef
	stall := func(reason, msg string) (*ctrl.Result, error) {
		setCondition(t, v1alpha1.ConditionCertificateReady, metav1.ConditionFalse, reason, msg)
		markStalled(t, reason, msg)
		return r.stalledBackoff(t), nil
	}
	if _, err := r.RESTMapper().RESTMapping(certificateGVK.GroupKind(), certificateGVK.Version); err != nil {
		if meta.IsNoMatchError(err) {
			return stall("CertManagerMissing", fmt.Sprintf("spec.tls.issuerRef names %s %s, but cert-manager is not installed (no certificates.cert-manager.io CRD); install it or remove spec.tls.issuerRef to use the operator's CA", ref.Kind, ref.Name))
		}
		return nil, err
	}
	issuer := &unstructured.Unstructured{}
	issuer.SetGroupVersionKind(schema.GroupVersionKind{Group: ref.Group, Version: "v1", Kind: ref.Kind})
	key := client.ObjectKey{Name: ref.Name}
	if ref.Kind == "Issuer" {
		key.Namespace = t.NamespaceName()
	}
	if err := r.APIReader.Get(ctx, key, issuer); err != nil {
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return stall("IssuerNotFound", fmt.Sprintf("spec.tls.issuerRef names %s %s, which does not exist", ref.Kind, ref.Name))
		}
		return nil, err
	}
	cert := &unstructured.Unstructured{}
	cert.SetGroupVersionKind(certificateGVK)
	cert.SetName(certificateName)
	cert.SetNamespace(t.NamespaceName())
	cert.SetLabels(tenantLabels(t))
	cert.Object["spec"] = map[string]any{
		"secretName": tlsSecretName,
		"dnsNames":   []any{t.Spec.App.Host},
		"issuerRef":  map[string]any{"name": ref.Name, "kind": ref.Kind, "group": ref.Group},
		"privateKey": map[string]any{"algorithm": "ECDSA", "size": int64(256), "rotationPolicy": "Always"},
	}
	if err := r.applyAll(ctx, t, cert); err != nil {
		return nil, err
	}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(cert), cert); err != nil {
		return nil, err
	}
	ready, notAfter := certManagerStatus(cert)
	issuerName := ref.Kind + "/" + ref.Name
	prevNotAfter := t.Status.Certificate
	t.Status.Certificate = &v1alpha1.CertificateStatus{NotAfter: notAfter, Issuer: issuerName}
	if !ready {
		setCondition(t, v1alpha1.ConditionCertificateReady, metav1.ConditionFalse, "Issuing", "waiting for cert-manager to issue the certificate via "+issuerName)
		return nil, nil
	}
	if prevNotAfter != nil && prevNotAfter.NotAfter != nil && notAfter != nil && notAfter.After(prevNotAfter.NotAfter.Time) {
		r.event(t, corev1.EventTypeNormal, "CertificateRenewed", "Renew", "cert-manager renewed the certificate of %s", t.Spec.App.Host)
		r.notify(ctx, t, mail.KindCertificateRenewed, mail.CertificateRenewedData{Tenant: t.Name, Host: t.Spec.App.Host, Issuer: issuerName, NotAfter: notAfter.Time})
	}
	setCondition(t, v1alpha1.ConditionCertificateReady, metav1.ConditionTrue, "Issued", "certificate issued by cert-manager via "+issuerName)
	return nil, nil
}

// certManagerStatus reads Ready and notAfter from a cert-manager Certificate.
func certManagerStatus(cert *unstructured.Unstructured) (bool, *metav1.Time) {
	var notAfter *metav1.Time
	if s, ok, _ := unstructured.NestedString(cert.Object, "status", "notAfter"); ok {
		if ts, err := time.Parse(time.RFC3339, s); err == nil {
			n := metav1.NewTime(ts)
			notAfter = &n
		}
	}
	conds, _, _ := unstructured.NestedSlice(cert.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" && m["status"] == "True" {
			return true, notAfter
		}
	}
	return false, notAfter
}
