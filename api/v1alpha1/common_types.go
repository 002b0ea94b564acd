package v1alpha1

// Condition types shared by every kind. Ready, Reconciling and Stalled follow
// kstatus (sigs.k8s.io/cli-utils/pkg/kstatus), so Flux, Argo CD and
// `kubectl wait --for=condition=Ready` read the health of these objects.
const (
	// ConditionReady is True when the object's desired state is in effect.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the operator works towards the
	// desired state (kstatus "abnormal-true" condition).
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when progress needs a change by a human: a
	// missing Secret, an invalid reference, a refused namespace.
	ConditionStalled = "Stalled"
)

// Labels and annotations the operator reads or writes.
const (
	// LabelTenant names the Tenant that a namespace or child object belongs to.
	// A namespace that already exists is adopted only when it carries this
	// label with the Tenant's name.
	LabelTenant = "inboxchat.io/tenant"
	// LabelManagedBy marks objects that the operator created.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy on the operator's objects.
	ManagedByValue = "inboxchat-operator"
	// AnnotationConfirmErase must name the Tenant before a Tenant with
	// offboarding policy Erase is erased on deletion.
	AnnotationConfirmErase = "inboxchat.io/confirm-erase"
	// AnnotationRetry asks the operator to run a failed worker again; any new
	// value triggers one retry.
	AnnotationRetry = "inboxchat.io/retry"
)

// SecretReference names a Secret in the tenant namespace. The key(s) read from
// it are fixed by the field that holds the reference.
type SecretReference struct {
	// name of the Secret in the tenant namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`
}

// ConfigMapKeyReference names a key of a ConfigMap in the same namespace.
type ConfigMapKeyReference struct {
	// name of the ConfigMap.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`
	// key within the ConfigMap.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}
