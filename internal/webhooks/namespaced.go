package webhooks

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/controllers"
)

// +kubebuilder:webhook:path=/validate-inboxchat-io-v1alpha1-broadcast,mutating=false,failurePolicy=ignore,sideEffects=None,groups=inboxchat.io,resources=broadcasts,verbs=create;update,versions=v1alpha1,name=vbroadcast.inboxchat.io,admissionReviewVersions=v1,timeoutSeconds=5
// +kubebuilder:webhook:path=/validate-inboxchat-io-v1alpha1-policyupdate,mutating=false,failurePolicy=ignore,sideEffects=None,groups=inboxchat.io,resources=policyupdates,verbs=create;update,versions=v1alpha1,name=vpolicyupdate.inboxchat.io,admissionReviewVersions=v1,timeoutSeconds=5
// +kubebuilder:webhook:path=/validate-inboxchat-io-v1alpha1-erasurerequest,mutating=false,failurePolicy=ignore,sideEffects=None,groups=inboxchat.io,resources=erasurerequests,verbs=create;update,versions=v1alpha1,name=verasurerequest.inboxchat.io,admissionReviewVersions=v1,timeoutSeconds=5

// TenantScoped is implemented by the namespaced kinds: each belongs to the
// Tenant of its namespace.
type TenantScoped interface {
	client.Object
	*v1alpha1.Broadcast | *v1alpha1.PolicyUpdate | *v1alpha1.ErasureRequest
}

// TenantScopedValidator refuses a Broadcast, PolicyUpdate or ErasureRequest
// outside a tenant namespace, and an ErasureRequest whose subject Secret is
// missing or malformed.
type TenantScopedValidator[T TenantScoped] struct {
	// APIReader reads namespaces, Tenants and subject Secrets directly: a
	// subject Secret is the user's and is not in the operator's cache.
	APIReader client.Reader
}

// ValidateCreate checks a new object.
func (v *TenantScopedValidator[T]) ValidateCreate(ctx context.Context, obj T) (admission.Warnings, error) {
	if err := v.checkNamespace(ctx, obj); err != nil {
		return nil, err
	}
	if er, ok := any(obj).(*v1alpha1.ErasureRequest); ok {
		return nil, v.checkSubject(ctx, er)
	}
	return nil, nil
}

// ValidateUpdate lets every update through: the namespace cannot change,
// an ErasureRequest's spec is immutable (a CEL rule), and the controllers
// must be able to update status and finalizers whatever happened since.
func (v *TenantScopedValidator[T]) ValidateUpdate(context.Context, T, T) (admission.Warnings, error) {
	return nil, nil
}

// ValidateDelete allows every deletion.
func (v *TenantScopedValidator[T]) ValidateDelete(context.Context, T) (admission.Warnings, error) {
	return nil, nil
}

// checkNamespace refuses an object outside the namespace of an existing
// Tenant. The Tenant is found through the namespace's inboxchat.io/tenant
// label, which must match the namespace the Tenant provisions: a namespace
// cannot claim to belong to another tenant.
func (v *TenantScopedValidator[T]) checkNamespace(ctx context.Context, obj T) error {
	ns := &corev1.Namespace{}
	if err := v.APIReader.Get(ctx, client.ObjectKey{Name: obj.GetNamespace()}, ns); err != nil {
		return apierrors.NewInternalError(fmt.Errorf("reading namespace %s: %w", obj.GetNamespace(), err))
	}
	name := ns.Labels[v1alpha1.LabelTenant]
	t := &v1alpha1.Tenant{}
	if name != "" {
		if err := v.APIReader.Get(ctx, client.ObjectKey{Name: name}, t); client.IgnoreNotFound(err) != nil {
			return apierrors.NewInternalError(fmt.Errorf("reading Tenant %s: %w", name, err))
		}
	}
	if name == "" || t.Name == "" || t.NamespaceName() != ns.Name {
		return invalid(obj, field.Invalid(field.NewPath("metadata", "namespace"), obj.GetNamespace(),
			"not a tenant namespace"), "InboxChat objects belong in the namespace of their Tenant (tenant-<name>), and can refer only to objects there")
	}
	if !t.DeletionTimestamp.IsZero() {
		return invalid(obj, field.Forbidden(field.NewPath("metadata", "namespace"),
			fmt.Sprintf("Tenant %s is being deleted", t.Name)), "no new work starts for a tenant that is leaving")
	}
	return nil
}

// checkSubject refuses an ErasureRequest whose subject Secret is missing or
// not shaped right. The answer names keys, never values.
func (v *TenantScopedValidator[T]) checkSubject(ctx context.Context, er *v1alpha1.ErasureRequest) error {
	ref := er.Spec.Subject.SecretRef
	if ref == nil {
		return nil
	}
	path := field.NewPath("spec", "subject", "secretRef", "name")
	s := &corev1.Secret{}
	if err := v.APIReader.Get(ctx, client.ObjectKey{Namespace: er.Namespace, Name: ref.Name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return invalid(er, field.NotFound(path, ref.Name), "create the subject Secret in the same namespace before the ErasureRequest")
		}
		return apierrors.NewInternalError(fmt.Errorf("reading the subject Secret: %w", err))
	}
	if msg := controllers.SubjectSecretProblem(s, er.Spec.Subject.Kind); msg != "" {
		return invalid(er, field.Invalid(path, ref.Name, msg), "")
	}
	return nil
}

// invalid is an Invalid error for obj with one field error and a hint.
func invalid(obj client.Object, fe *field.Error, hint string) error {
	if hint != "" {
		fe.Detail = joinDetail(fe.Detail, hint)
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	gk := schema.GroupKind{Group: v1alpha1.GroupVersion.Group, Kind: gvk.Kind}
	if gk.Kind == "" {
		gk.Kind = kindOf(obj)
	}
	return apierrors.NewInvalid(gk, obj.GetName(), field.ErrorList{fe})
}

func joinDetail(a, b string) string {
	if a == "" {
		return b
	}
	return a + ": " + b
}

// kindOf names the kind of a typed object whose TypeMeta is empty.
func kindOf(obj client.Object) string {
	switch obj.(type) {
	case *v1alpha1.Tenant:
		return "Tenant"
	case *v1alpha1.Broadcast:
		return "Broadcast"
	case *v1alpha1.PolicyUpdate:
		return "PolicyUpdate"
	case *v1alpha1.ErasureRequest:
		return "ErasureRequest"
	}
	return "object"
}
