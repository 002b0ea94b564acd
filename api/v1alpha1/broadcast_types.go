package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MessagingType is the Messenger messaging_type of a broadcast.
// +kubebuilder:validation:Enum=RESPONSE;UPDATE;MESSAGE_TAG
type MessagingType string

// Messaging types. Promotional content may be sent only inside the 24-hour
// window after the lead's last message; leads outside it are skipped and counted.
const (
	MessagingTypeResponse   MessagingType = "RESPONSE"
	MessagingTypeUpdate     MessagingType = "UPDATE"
	MessagingTypeMessageTag MessagingType = "MESSAGE_TAG"
)

// BroadcastPhase is where a broadcast is in its life.
// +kubebuilder:validation:Enum=Pending;Scheduled;Running;Paused;Succeeded;Failed
type BroadcastPhase string

// Broadcast phases.
const (
	BroadcastPending   BroadcastPhase = "Pending"
	BroadcastScheduled BroadcastPhase = "Scheduled"
	BroadcastRunning   BroadcastPhase = "Running"
	BroadcastPaused    BroadcastPhase = "Paused"
	BroadcastSucceeded BroadcastPhase = "Succeeded"
	BroadcastFailed    BroadcastPhase = "Failed"
)

// MessageButton is a web_url button under the message text.
type MessageButton struct {
	// title shown on the button.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=20
	Title string `json:"title"`
	// url the button opens; https only.
	// +kubebuilder:validation:MaxLength=2000
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() == 'https'",message="button url must be an https URL"
	URL string `json:"url"`
}

// BroadcastMessage is the message sent to every lead of the audience.
type BroadcastMessage struct {
	// text is a Go template over the lead's fields ({{.FirstName}},
	// {{.LastName}}). The operator appends the unsubscribe link; no field
	// turns it off. At most 1,500 characters before the link is appended.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1500
	Text string `json:"text"`
	// buttons are up to three web_url buttons.
	// +optional
	// +kubebuilder:validation:MaxItems=3
	Buttons []MessageButton `json:"buttons,omitempty"`
}

// Audience selects leads by tag. Only leads with a recorded opt-in and no
// opt-out are ever in the audience, whatever the tags say.
type Audience struct {
	// tags a lead must all carry; every opted-in lead when empty.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9][-_a-z0-9]*$`
	Tags []string `json:"tags,omitempty"`
	// excludeTags leave out every lead that carries any of them.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9][-_a-z0-9]*$`
	ExcludeTags []string `json:"excludeTags,omitempty"`
}

// BroadcastSpec is the desired state of a broadcast.
// +kubebuilder:validation:XValidation:rule="self.messagingType == 'MESSAGE_TAG' ? has(self.tag) : !has(self.tag)",message="tag is required when messagingType is MESSAGE_TAG and not allowed otherwise",fieldPath=".tag"
// +kubebuilder:validation:XValidation:rule="!has(self.audience.tags) || !has(self.audience.excludeTags) || !self.audience.tags.exists(t, t in self.audience.excludeTags)",message="a tag cannot be both in audience.tags and audience.excludeTags",fieldPath=".audience"
type BroadcastSpec struct {
	// message is sent to every lead of the audience; it cannot change once
	// the Broadcast exists (create a new Broadcast instead).
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="message is immutable; create a new Broadcast"
	Message BroadcastMessage `json:"message"`
	// audience selects leads; it is frozen when the broadcast starts.
	// +optional
	// +kubebuilder:default={}
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="audience is immutable; create a new Broadcast"
	Audience Audience `json:"audience,omitempty"`
	// messagingType is the Messenger messaging_type.
	// +optional
	// +kubebuilder:default=UPDATE
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="messagingType is immutable"
	MessagingType MessagingType `json:"messagingType,omitempty"`
	// tag is the Messenger message tag, required with MESSAGE_TAG.
	// +optional
	// +kubebuilder:validation:Enum=CONFIRMED_EVENT_UPDATE;POST_PURCHASE_UPDATE;ACCOUNT_UPDATE;HUMAN_AGENT
	Tag string `json:"tag,omitempty"`
	// messagesPerSecond is the send rate, further capped by the tenant's rate
	// and Messenger's 300 per second per Page.
	// +optional
	// +kubebuilder:default=20
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=300
	MessagesPerSecond int32 `json:"messagesPerSecond,omitempty"`
	// startAt schedules the broadcast; it starts at once when unset.
	// +optional
	StartAt *metav1.Time `json:"startAt,omitempty"`
	// suspend pauses a running broadcast cleanly; clearing it resumes where
	// it stopped.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
	// maxFailureRatio pauses the broadcast when failed/attempted exceeds it,
	// a decimal between 0 and 1 (after at least 20 attempts).
	// +optional
	// +kubebuilder:default="0.1"
	// +kubebuilder:validation:Pattern=`^(0(\.[0-9]{1,4})?|1(\.0{1,4})?)$`
	MaxFailureRatio string `json:"maxFailureRatio,omitempty"`
}

// BroadcastError is the last error of a broadcast, free of personal data.
type BroadcastError struct {
	// code is the Graph API error code, or 0 for errors of the operator.
	// +optional
	Code int32 `json:"code,omitempty"`
	// subcode is the Graph API error subcode.
	// +optional
	Subcode int32 `json:"subcode,omitempty"`
	// text describes the error; it never carries a PSID, name or token.
	// +optional
	Text string `json:"text,omitempty"`
}

// BroadcastStatus is the observed state of a broadcast.
type BroadcastStatus struct {
	// observedGeneration is the generation whose reconciliation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready, Reconciling, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// phase is Pending, Scheduled, Running, Paused, Succeeded or Failed.
	// +optional
	Phase BroadcastPhase `json:"phase,omitempty"`
	// audience is the number of leads frozen at start.
	// +optional
	Audience int64 `json:"audience,omitempty"`
	// sent is how many messages Messenger accepted.
	// +optional
	Sent int64 `json:"sent,omitempty"`
	// failed is how many sends failed for good.
	// +optional
	Failed int64 `json:"failed,omitempty"`
	// skippedUnsubscribed is how many leads unsubscribed after the audience froze.
	// +optional
	SkippedUnsubscribed int64 `json:"skippedUnsubscribed,omitempty"`
	// skippedOutsideWindow is how many leads were outside the 24-hour window.
	// +optional
	SkippedOutsideWindow int64 `json:"skippedOutsideWindow,omitempty"`
	// skippedUnreachable is how many leads Messenger reported unavailable.
	// +optional
	SkippedUnreachable int64 `json:"skippedUnreachable,omitempty"`
	// messagesPerSecond is the send rate observed by the worker.
	// +optional
	MessagesPerSecond string `json:"messagesPerSecond,omitempty"`
	// startedAt is when sending started.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// completedAt is when the broadcast ended.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
	// jobName is the worker Job.
	// +optional
	JobName string `json:"jobName,omitempty"`
	// lastError is the last error, without personal data.
	// +optional
	LastError *BroadcastError `json:"lastError,omitempty"`
	// lastRetry is the value of the inboxchat.io/retry annotation that was
	// last acted on (retry failed deliveries, or resume after an automatic
	// pause).
	// +optional
	LastRetry string `json:"lastRetry,omitempty"`
	// retryFailed tells the worker to send again to leads whose delivery failed.
	// +optional
	RetryFailed bool `json:"retryFailed,omitempty"`
}

// Broadcast sends one message to the opted-in leads of a tenant, at a bounded
// rate, exactly once each, always with an unsubscribe link.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=bc,categories=inboxchat
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Audience",type=integer,JSONPath=`.status.audience`
// +kubebuilder:printcolumn:name="Sent",type=integer,JSONPath=`.status.sent`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.failed`
// +kubebuilder:printcolumn:name="Rate",type=string,JSONPath=`.status.messagesPerSecond`,priority=1
// +kubebuilder:printcolumn:name="Start",type=string,JSONPath=`.spec.startAt`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Broadcast struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the broadcast.
	Spec BroadcastSpec `json:"spec"`
	// status is the observed state of the broadcast.
	// +optional
	Status BroadcastStatus `json:"status,omitempty"`
}

// BroadcastList is a list of Broadcasts.
// +kubebuilder:object:root=true
type BroadcastList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Broadcast `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Broadcast{}, &BroadcastList{})
}

// GetConditions returns the status conditions.
func (b *Broadcast) GetConditions() []metav1.Condition { return b.Status.Conditions }

// SetConditions replaces the status conditions.
func (b *Broadcast) SetConditions(c []metav1.Condition) { b.Status.Conditions = c }
