package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SubjectKind is the kind of data subject an ErasureRequest is about.
// +kubebuilder:validation:Enum=User;Lead
type SubjectKind string

// Subject kinds.
const (
	// SubjectUser is an account of the InboxChat app.
	SubjectUser SubjectKind = "User"
	// SubjectLead is a Messenger contact of the tenant's Page.
	SubjectLead SubjectKind = "Lead"
)

// ErasureMode says whether to export, erase, or both.
// +kubebuilder:validation:Enum=Erase;ExportThenErase;Export
type ErasureMode string

// Erasure modes.
const (
	ErasureModeErase           ErasureMode = "Erase"
	ErasureModeExportThenErase ErasureMode = "ExportThenErase"
	ErasureModeExport          ErasureMode = "Export"
)

// ErasurePhase is where an erasure request is in its life.
// +kubebuilder:validation:Enum=Pending;Exporting;Erasing;Verifying;Completed;Failed
type ErasurePhase string

// Erasure phases.
const (
	ErasurePending   ErasurePhase = "Pending"
	ErasureExporting ErasurePhase = "Exporting"
	ErasureErasing   ErasurePhase = "Erasing"
	ErasureVerifying ErasurePhase = "Verifying"
	ErasureCompleted ErasurePhase = "Completed"
	ErasureFailed    ErasurePhase = "Failed"
)

// ErasureSubject identifies the data subject, either by an opaque internal id
// or through a Secret that the operator deletes when the request is done, so
// no personal data stays in the cluster.
// +kubebuilder:validation:XValidation:rule="has(self.id) != has(self.secretRef)",message="set exactly one of subject.id and subject.secretRef"
type ErasureSubject struct {
	// kind of subject: User (an app account) or Lead (a Messenger contact).
	Kind SubjectKind `json:"kind"`
	// id is the subject's opaque internal id in the tenant database (never an
	// e-mail address or a PSID: put those in a Secret).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][-_A-Za-z0-9]*$`
	ID string `json:"id,omitempty"`
	// secretRef names a Secret in the same namespace with exactly one of the
	// keys `email` (Users), `psid` (Leads) or `id`. The operator deletes the
	// Secret once the request has completed.
	// +optional
	SecretRef *SecretReference `json:"secretRef,omitempty"`
}

// ErasureRequestSpec is the desired state of an erasure request. It cannot
// change once created.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="an ErasureRequest cannot be changed once created; create a new one"
type ErasureRequestSpec struct {
	// subject identifies whose data to erase.
	Subject ErasureSubject `json:"subject"`
	// mode is Erase (default), ExportThenErase, or Export only.
	// +optional
	// +kubebuilder:default=Erase
	Mode ErasureMode `json:"mode,omitempty"`
	// dryRun reports what would be exported and erased and changes nothing.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
}

// StoreErasure is the outcome of a request in one store.
type StoreErasure struct {
	// name of the store in the data map (e.g. database, sessions, files).
	Name string `json:"name"`
	// erased is how many records (rows, keys, files) were erased.
	// +optional
	Erased int64 `json:"erased"`
	// retained is how many records were kept on purpose.
	// +optional
	Retained int64 `json:"retained"`
	// retainedReason says why, e.g. "security log kept for 720h".
	// +optional
	RetainedReason string `json:"retainedReason,omitempty"`
	// remaining is what the verifying re-query still found that should be
	// gone; Completed requires 0 in every store.
	// +optional
	Remaining int64 `json:"remaining"`
}

// ExportStatus locates the encrypted export made before erasure.
type ExportStatus struct {
	// location of the encrypted archive on the files volume.
	// +optional
	Location string `json:"location,omitempty"`
	// sha256 of the encrypted archive.
	// +optional
	SHA256 string `json:"sha256,omitempty"`
	// expiresAt is when the prune worker removes the archive.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
}

// ErasureRequestStatus is the observed state of an erasure request.
type ErasureRequestStatus struct {
	// observedGeneration is the generation whose reconciliation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready, Reconciling, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// phase is Pending, Exporting, Erasing, Verifying, Completed or Failed.
	// +optional
	Phase ErasurePhase `json:"phase,omitempty"`
	// deadline is creation + 30 days (GDPR Art. 12(3)).
	// +optional
	Deadline *metav1.Time `json:"deadline,omitempty"`
	// subjectFingerprint is a keyed hash of the subject identifier, never the identifier.
	// +optional
	SubjectFingerprint string `json:"subjectFingerprint,omitempty"`
	// stores lists the outcome per store.
	// +optional
	// +listType=map
	// +listMapKey=name
	Stores []StoreErasure `json:"stores,omitempty"`
	// export locates the encrypted export, when the mode asked for one.
	// +optional
	Export *ExportStatus `json:"export,omitempty"`
	// receipt is a hash over the results chained to the tenant's previous receipt.
	// +optional
	Receipt string `json:"receipt,omitempty"`
	// previousReceipt is the tenant's receipt this one is chained to.
	// +optional
	PreviousReceipt string `json:"previousReceipt,omitempty"`
	// completedAt is when the request completed.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
	// jobName is the worker Job.
	// +optional
	JobName string `json:"jobName,omitempty"`
	// message says what failed, naming the store and the reason, never
	// personal data.
	// +optional
	Message string `json:"message,omitempty"`
	// lastRetry is the value of the inboxchat.io/retry annotation that was
	// last acted on.
	// +optional
	LastRetry string `json:"lastRetry,omitempty"`
}

// ErasureRequest erases (and optionally first exports) everything the tenant
// holds about one person, across every store, and proves it by re-query.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=er,categories=inboxchat
// +kubebuilder:printcolumn:name="Kind",type=string,JSONPath=`.spec.subject.kind`
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Dry-Run",type=boolean,JSONPath=`.spec.dryRun`,priority=1
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Deadline",type=string,JSONPath=`.status.deadline`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`,priority=1
// +kubebuilder:printcolumn:name="Receipt",type=string,JSONPath=`.status.receipt`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ErasureRequest struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the request.
	Spec ErasureRequestSpec `json:"spec"`
	// status is the observed state of the request.
	// +optional
	Status ErasureRequestStatus `json:"status,omitempty"`
}

// ErasureRequestList is a list of ErasureRequests.
// +kubebuilder:object:root=true
type ErasureRequestList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ErasureRequest `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ErasureRequest{}, &ErasureRequestList{})
}

// GetConditions returns the status conditions.
func (e *ErasureRequest) GetConditions() []metav1.Condition { return e.Status.Conditions }

// SetConditions replaces the status conditions.
func (e *ErasureRequest) SetConditions(c []metav1.Condition) { e.Status.Conditions = c }
