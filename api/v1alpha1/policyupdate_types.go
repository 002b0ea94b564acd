package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PolicyPhase is where a policy update is in its life.
// +kubebuilder:validation:Enum=Pending;Notifying;Published;Superseded;Failed
type PolicyPhase string

// Policy update phases.
const (
	PolicyPending    PolicyPhase = "Pending"
	PolicyNotifying  PolicyPhase = "Notifying"
	PolicyPublished  PolicyPhase = "Published"
	PolicySuperseded PolicyPhase = "Superseded"
	PolicyFailed     PolicyPhase = "Failed"
)

// PolicyNotify configures the e-mail to every user.
type PolicyNotify struct {
	// messagesPerSecond is the e-mail send rate.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MessagesPerSecond int32 `json:"messagesPerSecond,omitempty"`
}

// PolicyUpdateSpec is the desired state of a privacy-policy version.
// +kubebuilder:validation:XValidation:rule="has(self.documentURL) != has(self.documentRef)",message="set exactly one of documentURL and documentRef"
type PolicyUpdateSpec struct {
	// version of the privacy policy, unique within the tenant.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][-._A-Za-z0-9]*$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="version is immutable"
	Version string `json:"version"`
	// effectiveAt is when the version takes effect; the ConfigMap is
	// published then. It must not be before the previous version's.
	EffectiveAt metav1.Time `json:"effectiveAt"`
	// documentURL is the https address of the policy document.
	// +optional
	// +kubebuilder:validation:MaxLength=2000
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() == 'https'",message="documentURL must be an https URL"
	DocumentURL string `json:"documentURL,omitempty"`
	// documentRef names a ConfigMap key in the same namespace that holds the document.
	// +optional
	DocumentRef *ConfigMapKeyReference `json:"documentRef,omitempty"`
	// summary of the changes, in plain words; every user's e-mail carries it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4000
	Summary string `json:"summary"`
	// requireReacceptance makes the app ask every user to accept the new version.
	// +optional
	RequireReacceptance bool `json:"requireReacceptance,omitempty"`
	// notify configures the e-mail to every user.
	// +optional
	// +kubebuilder:default={}
	Notify PolicyNotify `json:"notify,omitempty"`
}

// PolicyUpdateStatus is the observed state of a policy update.
type PolicyUpdateStatus struct {
	// observedGeneration is the generation whose reconciliation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready, Reconciling, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// phase is Pending, Notifying, Published, Superseded or Failed.
	// +optional
	Phase PolicyPhase `json:"phase,omitempty"`
	// recipients is how many users are to be e-mailed.
	// +optional
	Recipients int64 `json:"recipients,omitempty"`
	// sent is how many e-mails were accepted by the SMTP server.
	// +optional
	Sent int64 `json:"sent,omitempty"`
	// failed is how many e-mails failed for good.
	// +optional
	Failed int64 `json:"failed,omitempty"`
	// accepted is how many users accepted this version (when re-acceptance is required).
	// +optional
	Accepted int64 `json:"accepted,omitempty"`
	// publishedAt is when the ConfigMap inboxchat-policy took this version.
	// +optional
	PublishedAt *metav1.Time `json:"publishedAt,omitempty"`
	// supersededBy names the PolicyUpdate that replaced this one.
	// +optional
	SupersededBy string `json:"supersededBy,omitempty"`
	// jobName is the notify worker Job.
	// +optional
	JobName string `json:"jobName,omitempty"`
	// lastRetry is the value of the inboxchat.io/retry annotation that was
	// last acted on.
	// +optional
	LastRetry string `json:"lastRetry,omitempty"`
}

// PolicyUpdate publishes a privacy-policy version to the tenant's app and
// e-mails every user about it exactly once.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=pu,categories=inboxchat
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.spec.version`
// +kubebuilder:printcolumn:name="Effective",type=string,JSONPath=`.spec.effectiveAt`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Sent",type=integer,JSONPath=`.status.sent`
// +kubebuilder:printcolumn:name="Recipients",type=integer,JSONPath=`.status.recipients`
// +kubebuilder:printcolumn:name="Reaccept",type=boolean,JSONPath=`.spec.requireReacceptance`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PolicyUpdate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the policy update.
	Spec PolicyUpdateSpec `json:"spec"`
	// status is the observed state of the policy update.
	// +optional
	Status PolicyUpdateStatus `json:"status,omitempty"`
}

// PolicyUpdateList is a list of PolicyUpdates.
// +kubebuilder:object:root=true
type PolicyUpdateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PolicyUpdate `json:"items"`
}

func init() {
	SchemeBuilder.Register(&PolicyUpdate{}, &PolicyUpdateList{})
}

// GetConditions returns the status conditions.
func (p *PolicyUpdate) GetConditions() []metav1.Condition { return p.Status.Conditions }

// SetConditions replaces the status conditions.
func (p *PolicyUpdate) SetConditions(c []metav1.Condition) { p.Status.Conditions = c }
