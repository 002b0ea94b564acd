package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Detail condition types of a Tenant. Ready summarises them.
const (
	// ConditionNamespaceReady reports the tenant namespace, its RBAC and its
	// NetworkPolicies.
	ConditionNamespaceReady = "NamespaceReady"
	// ConditionSecretsReady reports the generated secrets (app secret,
	// keyring, store credentials) and the referenced ones.
	ConditionSecretsReady = "SecretsReady"
	// ConditionCertificateReady reports the serving certificate of the host.
	ConditionCertificateReady = "CertificateReady"
	// ConditionStoresReady reports the database, session store and files volume.
	ConditionStoresReady = "StoresReady"
	// ConditionAppAvailable reports the app Deployment.
	ConditionAppAvailable = "AppAvailable"
	// ConditionNotificationsDelivered reports the last e-mail notice to the
	// tenant admins; a failure never blocks reconciliation.
	ConditionNotificationsDelivered = "NotificationsDelivered"
)

// DatabaseEngine is the SQL engine of a tenant database.
// +kubebuilder:validation:Enum=postgres;mysql
type DatabaseEngine string

// Database engines.
const (
	DatabaseEnginePostgres DatabaseEngine = "postgres"
	DatabaseEngineMySQL    DatabaseEngine = "mysql"
)

// OffboardingPolicy says what happens to a tenant's data when the Tenant is deleted.
// +kubebuilder:validation:Enum=Erase;Retain
type OffboardingPolicy string

// Offboarding policies.
const (
	// OffboardingErase erases every store of the tenant, after the explicit
	// confirmation annotation, and writes an offboarding receipt.
	OffboardingErase OffboardingPolicy = "Erase"
	// OffboardingRetain keeps the store volumes and Secrets; a Tenant of the
	// same name created later finds them again.
	OffboardingRetain OffboardingPolicy = "Retain"
)

// TenantAdmin is a person who administers the tenant. They are bound to a Role
// in the tenant namespace that may manage Broadcasts, ErasureRequests and
// PolicyUpdates, and receive the tenant's e-mail notices.
// +kubebuilder:validation:XValidation:rule="!(has(self.user) && has(self.group))",message="an admin names a user or a group, not both"
type TenantAdmin struct {
	// email receives the tenant's notices (created, keys rotated, certificate
	// renewed, erasure done, policy published, offboarded).
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:Format=email
	Email string `json:"email"`
	// user is the Kubernetes user name bound to the tenant admin Role.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	User string `json:"user,omitempty"`
	// group is the Kubernetes group bound to the tenant admin Role.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Group string `json:"group,omitempty"`
}

// AppSpec describes the InboxChat app of the tenant: a Deployment, a Service
// and an HTTPS-only Ingress for host.
type AppSpec struct {
	// image of the InboxChat app.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="!self.contains(' ')",message="image must not contain spaces"
	Image string `json:"image"`
	// replicas of the app; a PodDisruptionBudget is created when above 1.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Replicas *int32 `json:"replicas,omitempty"`
	// host is the fully qualified DNS name the tenant is served on, over HTTPS
	// only. It must be unique across tenants.
	// +kubebuilder:validation:MinLength=4
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\\\\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?$')",message="host must be a lower-case fully qualified DNS name such as chat.example.com, without scheme, port or path"
	Host string `json:"host"`
	// resources of the app container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
}

// IssuerReference names a cert-manager issuer.
type IssuerReference struct {
	// name of the issuer.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// kind of the issuer.
	// +optional
	// +kubebuilder:default=ClusterIssuer
	// +kubebuilder:validation:Enum=Issuer;ClusterIssuer
	Kind string `json:"kind,omitempty"`
	// group of the issuer.
	// +optional
	// +kubebuilder:default=cert-manager.io
	// +kubebuilder:validation:MaxLength=253
	Group string `json:"group,omitempty"`
}

// TLSSpec chooses where the tenant's serving certificate comes from.
type TLSSpec struct {
	// issuerRef selects a cert-manager issuer; the operator creates a
	// cert-manager Certificate when it is set and cert-manager is installed.
	// When unset, the operator's own CA issues the certificate and renews it at
	// two thirds of its lifetime.
	// +optional
	IssuerRef *IssuerReference `json:"issuerRef,omitempty"`
}

// ManagedDatabase is a database the operator runs in the tenant namespace.
type ManagedDatabase struct {
	// engine of the managed database.
	// +kubebuilder:default=postgres
	Engine DatabaseEngine `json:"engine"`
	// storage is the size of the database volume.
	// +optional
	// +kubebuilder:default="10Gi"
	Storage *resource.Quantity `json:"storage,omitempty"`
	// storageClassName of the database volume; the cluster default when unset.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	StorageClassName *string `json:"storageClassName,omitempty"`
}

// ExternalDatabase is a database the tenant brings.
type ExternalDatabase struct {
	// engine of the external database.
	Engine DatabaseEngine `json:"engine"`
	// secretRef names a Secret in the tenant namespace whose key `dsn` holds
	// the connection string (a PostgreSQL URL, or a go-sql-driver/mysql DSN).
	SecretRef SecretReference `json:"secretRef"`
}

// DatabaseStore is the tenant's SQL database: managed or external.
// +kubebuilder:validation:XValidation:rule="has(self.managed) != has(self.external)",message="set exactly one of stores.database.managed and stores.database.external"
type DatabaseStore struct {
	// managed runs PostgreSQL or MySQL as a StatefulSet with generated credentials.
	// +optional
	Managed *ManagedDatabase `json:"managed,omitempty"`
	// external uses a database reached through a DSN in a Secret.
	// +optional
	External *ExternalDatabase `json:"external,omitempty"`
}

// ManagedSessions is a Redis the operator runs in the tenant namespace.
type ManagedSessions struct {
	// storage is the size of the Redis volume.
	// +optional
	// +kubebuilder:default="1Gi"
	Storage *resource.Quantity `json:"storage,omitempty"`
}

// ExternalSessions is a Redis the tenant brings.
type ExternalSessions struct {
	// secretRef names a Secret in the tenant namespace whose key `url` holds a
	// redis:// or rediss:// URL.
	SecretRef SecretReference `json:"secretRef"`
}

// SessionStore is the Redis that holds sessions (`sess:<id>`) and their
// per-user index sets.
// +kubebuilder:validation:XValidation:rule="has(self.managed) != has(self.external)",message="set exactly one of stores.sessions.managed and stores.sessions.external"
type SessionStore struct {
	// managed runs Redis as a StatefulSet.
	// +optional
	Managed *ManagedSessions `json:"managed,omitempty"`
	// external uses a Redis reached through a URL in a Secret.
	// +optional
	External *ExternalSessions `json:"external,omitempty"`
}

// FilesStore is the volume for uploads, kept under per-user and per-lead folders.
type FilesStore struct {
	// storage is the size of the files volume.
	// +optional
	// +kubebuilder:default="5Gi"
	Storage *resource.Quantity `json:"storage,omitempty"`
	// storageClassName of the files volume; the cluster default when unset.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	StorageClassName *string `json:"storageClassName,omitempty"`
}

// StoresSpec lists where the tenant's data lives.
type StoresSpec struct {
	// database is the tenant's SQL database.
	Database DatabaseStore `json:"database"`
	// sessions is the tenant's session store.
	// +optional
	// +kubebuilder:default={managed:{}}
	Sessions *SessionStore `json:"sessions,omitempty"`
	// files is the uploads volume.
	// +optional
	// +kubebuilder:default={}
	Files FilesStore `json:"files,omitempty"`
}

// EncryptionSpec configures the per-tenant keyring that encrypts personal data at rest.
type EncryptionSpec struct {
	// keyRotationInterval is how often a new active AES-256-GCM key is made;
	// older keys stay for decryption. At least 24h, at most 8760h (a year).
	// +optional
	// +kubebuilder:default="2160h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=duration
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('24h') && duration(self) <= duration('8760h')",message="keyRotationInterval must be between 24h and 8760h"
	KeyRotationInterval *metav1.Duration `json:"keyRotationInterval,omitempty"`
}

// MessengerSpec connects the tenant to its Facebook Page.
type MessengerSpec struct {
	// pageID is the numeric id of the Facebook Page that sends.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[0-9]+$`
	PageID string `json:"pageID"`
	// accessTokenSecretRef names a Secret in the tenant namespace whose key
	// `accessToken` holds the Page access token.
	AccessTokenSecretRef SecretReference `json:"accessTokenSecretRef"`
	// graphAPIURL is the base URL of the Graph API, including its version.
	// It must be https, except for a loopback emulator.
	// +optional
	// +kubebuilder:default="https://graph.facebook.com/v23.0"
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="isURL(self) && (url(self).getScheme() == 'https' || (url(self).getScheme() == 'http' && url(self).getHostname() in ['127.0.0.1', 'localhost', '::1']))",message="graphAPIURL must be an https URL (plain http is allowed only for a loopback emulator)"
	GraphAPIURL string `json:"graphAPIURL,omitempty"`
	// messagesPerSecond caps every broadcast of the tenant; Messenger itself
	// allows at most 300 per second per Page.
	// +optional
	// +kubebuilder:default=40
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=300
	MessagesPerSecond int32 `json:"messagesPerSecond,omitempty"`
}

// NotificationsSpec configures the e-mail notices to the tenant admins and users.
type NotificationsSpec struct {
	// smtpSecretRef names a Secret in the tenant namespace with keys `host`,
	// `port`, `username`, `password` and `from` (and optionally `tls`:
	// starttls, tls, opportunistic or none). Without it no e-mail is sent.
	// +optional
	SMTPSecretRef *SecretReference `json:"smtpSecretRef,omitempty"`
}

// SessionsSpec configures session lifetime in the session store.
type SessionsSpec struct {
	// ttl is the lifetime of a session key; sessions are also destroyed on
	// logout and by erasure.
	// +optional
	// +kubebuilder:default="24h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=duration
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) <= duration('720h')",message="sessions.ttl must be between 1m and 720h"
	TTL *metav1.Duration `json:"ttl,omitempty"`
}

// RetentionSpec bounds how long data kept for a purpose may live.
type RetentionSpec struct {
	// securityLogs is how long login times and IP addresses are kept for
	// security; a prune CronJob deletes older rows. At most 8760h.
	// +optional
	// +kubebuilder:default="720h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=duration
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h') && duration(self) <= duration('8760h')",message="retention.securityLogs must be between 1h and 8760h"
	SecurityLogs *metav1.Duration `json:"securityLogs,omitempty"`
	// exports is how long an encrypted export made before erasure is kept.
	// +optional
	// +kubebuilder:default="168h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Format=duration
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h') && duration(self) <= duration('2160h')",message="retention.exports must be between 1h and 2160h"
	Exports *metav1.Duration `json:"exports,omitempty"`
}

// OffboardingSpec says what deleting the Tenant does to its data.
type OffboardingSpec struct {
	// policy Erase (the default) erases every store after the annotation
	// inboxchat.io/confirm-erase names the Tenant; Retain keeps the stores.
	// +optional
	// +kubebuilder:default=Erase
	Policy OffboardingPolicy `json:"policy,omitempty"`
	// exportBeforeDelete asks for an encrypted export of all tenant data
	// before erasing (policy Erase). The offboard worker first writes every
	// record the data map names, in every store, to the tenant's files
	// volume as exports/offboarding-<tenant uid>/: a manifest.json (counts
	// and SHA-256 digests, no personal data) and part files sealed with the
	// tenant keyring. Only when the export is complete does it erase the
	// stores; the export itself is kept. The namespace then keeps only the
	// files PVC (inboxchat-files) and the keyring Secret (inboxchat-keyring),
	// labelled inboxchat.io/export-expires-at=<Unix seconds>, until
	// spec.retention.exports has passed, when the operator deletes it. To
	// read the export, mount the files PVC in a pod in that namespace and
	// open each part with the keyring (associated data
	// "inboxchat-tenant-export:<tenant uid>:<part name>"). The offboarding
	// receipt in the operator namespace records the export's location,
	// SHA-256 and expiry. See docs/offboarding.md.
	// +optional
	ExportBeforeDelete bool `json:"exportBeforeDelete,omitempty"`
}

// TenantSpec is the desired state of a tenant.
type TenantSpec struct {
	// displayName is a human-friendly name for notices and dashboards.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	DisplayName string `json:"displayName,omitempty"`
	// admins administer the tenant namespace and receive its notices.
	// +optional
	// +listType=map
	// +listMapKey=email
	// +kubebuilder:validation:MaxItems=50
	Admins []TenantAdmin `json:"admins,omitempty"`
	// app is the InboxChat app the tenant runs.
	App AppSpec `json:"app"`
	// tls chooses the issuer of the serving certificate.
	// +optional
	TLS TLSSpec `json:"tls,omitempty"`
	// stores says where the tenant's data lives.
	Stores StoresSpec `json:"stores"`
	// dataMapRef names a ConfigMap in the tenant namespace whose key
	// `datamap.yaml` holds the data map; the built-in map of the reference
	// schema is used when unset.
	// +optional
	DataMapRef *corev1.LocalObjectReference `json:"dataMapRef,omitempty"`
	// encryption configures the keyring.
	// +optional
	// +kubebuilder:default={}
	Encryption EncryptionSpec `json:"encryption,omitempty"`
	// messenger connects the tenant to its Facebook Page; broadcasts need it.
	// +optional
	Messenger *MessengerSpec `json:"messenger,omitempty"`
	// notifications configures e-mail.
	// +optional
	Notifications NotificationsSpec `json:"notifications,omitempty"`
	// sessions configures session lifetime.
	// +optional
	// +kubebuilder:default={}
	Sessions SessionsSpec `json:"sessions,omitempty"`
	// retention bounds how long security logs and exports are kept.
	// +optional
	// +kubebuilder:default={}
	Retention RetentionSpec `json:"retention,omitempty"`
	// offboarding says what deleting the Tenant does to its data.
	// +optional
	// +kubebuilder:default={}
	Offboarding OffboardingSpec `json:"offboarding,omitempty"`
	// suspend scales the app to zero and stops new worker Jobs; data and
	// secrets are kept.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// CertificateStatus describes the serving certificate in use.
type CertificateStatus struct {
	// notAfter is when the certificate expires.
	// +optional
	NotAfter *metav1.Time `json:"notAfter,omitempty"`
	// renewAt is when the operator renews a certificate of its own CA.
	// +optional
	RenewAt *metav1.Time `json:"renewAt,omitempty"`
	// issuer is `operator-ca` or the cert-manager issuer's kind/name.
	// +optional
	Issuer string `json:"issuer,omitempty"`
}

// KeyringStatus describes the tenant keyring without revealing any key.
type KeyringStatus struct {
	// activeKeyID is the id of the key that encrypts new data.
	// +optional
	ActiveKeyID string `json:"activeKeyID,omitempty"`
	// rotatedAt is when the active key was made.
	// +optional
	RotatedAt *metav1.Time `json:"rotatedAt,omitempty"`
	// keys is how many keys the keyring holds (the active one and older ones
	// kept for decryption).
	// +optional
	Keys int32 `json:"keys,omitempty"`
}

// RetentionStatus reports the last run of the prune CronJob.
type RetentionStatus struct {
	// lastPruneAt is when the prune worker last finished.
	// +optional
	LastPruneAt *metav1.Time `json:"lastPruneAt,omitempty"`
	// securityLogsPruned is how many security-log rows the last run deleted.
	// +optional
	SecurityLogsPruned int64 `json:"securityLogsPruned,omitempty"`
	// exportsPruned is how many expired exports the last run deleted.
	// +optional
	ExportsPruned int64 `json:"exportsPruned,omitempty"`
	// sessionsPruned is how many orphaned sessions the last run deleted.
	// +optional
	SessionsPruned int64 `json:"sessionsPruned,omitempty"`
}

// TenantStatus is the observed state of a tenant.
type TenantStatus struct {
	// observedGeneration is the generation whose reconciliation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready, Reconciling, Stalled and the detail conditions
	// NamespaceReady, SecretsReady, CertificateReady, StoresReady, AppAvailable.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// namespace is the tenant namespace, tenant-<name>.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// url is the HTTPS address of the tenant's app.
	// +optional
	URL string `json:"url,omitempty"`
	// certificate describes the serving certificate.
	// +optional
	Certificate *CertificateStatus `json:"certificate,omitempty"`
	// keyring describes the encryption keyring.
	// +optional
	Keyring *KeyringStatus `json:"keyring,omitempty"`
	// retention reports the prune worker.
	// +optional
	Retention *RetentionStatus `json:"retention,omitempty"`
	// firstReadyAt is when the tenant first became Ready; its admins were
	// e-mailed then.
	// +optional
	FirstReadyAt *metav1.Time `json:"firstReadyAt,omitempty"`
	// lastReceipt is the newest erasure receipt of the tenant; the next
	// receipt is chained to it.
	// +optional
	LastReceipt string `json:"lastReceipt,omitempty"`
}

// Tenant provisions one InboxChat tenant: namespace tenant-<name>, RBAC,
// NetworkPolicies, generated and rotated secrets, TLS, stores and the app.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=tn,categories=inboxchat
// +kubebuilder:printcolumn:name="Namespace",type=string,JSONPath=`.status.namespace`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Key",type=string,JSONPath=`.status.keyring.activeKeyID`,priority=1
// +kubebuilder:printcolumn:name="Cert-Expires",type=string,JSONPath=`.status.certificate.notAfter`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 56 && !self.metadata.name.contains('.')",message="metadata.name of a Tenant must be a DNS label of at most 56 characters (no dots), so that its namespace tenant-<name> is valid"
type Tenant struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the tenant.
	Spec TenantSpec `json:"spec"`
	// status is the observed state of the tenant.
	// +optional
	Status TenantStatus `json:"status,omitempty"`
}

// TenantList is a list of Tenants.
// +kubebuilder:object:root=true
type TenantList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Tenant `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Tenant{}, &TenantList{})
}

// NamespaceName is the namespace the Tenant provisions.
func (t *Tenant) NamespaceName() string { return "tenant-" + t.Name }

// GetConditions returns the status conditions.
func (t *Tenant) GetConditions() []metav1.Condition { return t.Status.Conditions }

// SetConditions replaces the status conditions.
func (t *Tenant) SetConditions(c []metav1.Condition) { t.Status.Conditions = c }
