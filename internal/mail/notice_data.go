package mail

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// TenantReadyData is the data of KindTenantReady.
type TenantReadyData struct {
	// Tenant is the Tenant object's name.
	Tenant string
	// DisplayName is the tenant's display name.
	DisplayName string
	// URL is the tenant app's HTTPS address.
	URL string
}

// KeysRotatedData is the data of KindKeysRotated.
type KeysRotatedData struct {
	// Tenant is the Tenant object's name.
	Tenant string
	// ActiveKeyID is the ID of the key new data is encrypted with.
	ActiveKeyID string
	// RotatedAt is when the keyring was rotated.
	RotatedAt time.Time
	// NextRotation is when the next rotation is due; zero if unknown.
	NextRotation time.Time
}

// CertificateRenewedData is the data of KindCertificateRenewed.
type CertificateRenewedData struct {
	// Tenant is the Tenant object's name.
	Tenant string
	// Host is the host name the certificate is for.
	Host string
	// Issuer names who issued it (a cert-manager issuer or the operator's
	// CA); optional.
	Issuer string
	// NotAfter is when the new certificate expires.
	NotAfter time.Time
}

// ErasureCompletedData is the data of KindErasureCompleted. It describes
// the request, never its subject.
type ErasureCompletedData struct {
	// Tenant is the Tenant object's name.
	Tenant string
	// Request is the ErasureRequest object's name.
	Request string
	// Mode is Erase, ExportThenErase or Export.
	Mode string
	// DryRun is true when nothing was deleted.
	DryRun bool
	// CompletedAt is when the request completed.
	CompletedAt time.Time
	// Stores has one entry per store the request touched.
	Stores []StoreOutcome
	// Receipt is the request's receipt hash.
	Receipt string
}

// StoreOutcome counts what an erasure did in one store.
type StoreOutcome struct {
	// Name is the store's name in the data map, for example "database".
	Name string
	// Erased and Retained count records.
	Erased, Retained int64
	// RetainedReason says why records were retained, if any were.
	RetainedReason string
}

// PolicyPublishedData is the data of KindPolicyPublished, sent to the users
// of a tenant's app.
type PolicyPublishedData struct {
	// Product is the name users know the tenant's app by.
	Product string
	// Version is the policy version.
	Version string
	// Summary says what changed, in plain text.
	Summary string
	// EffectiveAt is when the version takes effect.
	EffectiveAt time.Time
	// DocumentURL is the absolute http(s) address of the whole policy.
	DocumentURL string
	// RequireReacceptance is true when users must accept the policy again.
	RequireReacceptance bool
}

// TenantOffboardedData is the data of KindTenantOffboarded.
type TenantOffboardedData struct {
	// Tenant is the Tenant object's name.
	Tenant string
	// Policy is the offboarding policy applied: Erase or Retain.
	Policy string
	// ExportTaken is true when an export was taken before deletion.
	ExportTaken bool
	// ExportExpiresAt, when set, is until when the export is kept (in the
	// tenant namespace, on its files volume, with its keyring).
	ExportExpiresAt time.Time
	// CompletedAt is when offboarding completed.
	CompletedAt time.Time
	// Receipt is the erasure receipt, if the data was erased.
	Receipt string
}

func (TenantReadyData) kind() Kind        { return KindTenantReady }
func (KeysRotatedData) kind() Kind        { return KindKeysRotated }
func (CertificateRenewedData) kind() Kind { return KindCertificateRenewed }
func (ErasureCompletedData) kind() Kind   { return KindErasureCompleted }
func (PolicyPublishedData) kind() Kind    { return KindPolicyPublished }
func (TenantOffboardedData) kind() Kind   { return KindTenantOffboarded }

func (d TenantReadyData) validate() error {
	return errors.Join(required("Tenant", d.Tenant), required("DisplayName", d.DisplayName), absoluteURL("URL", d.URL))
}

func (d KeysRotatedData) validate() error {
	return errors.Join(required("Tenant", d.Tenant), required("ActiveKeyID", d.ActiveKeyID), requiredTime("RotatedAt", d.RotatedAt))
}

func (d CertificateRenewedData) validate() error {
	return errors.Join(required("Tenant", d.Tenant), required("Host", d.Host), requiredTime("NotAfter", d.NotAfter))
}

func (d ErasureCompletedData) validate() error {
	errs := []error{
		required("Tenant", d.Tenant), required("Request", d.Request), required("Mode", d.Mode),
		requiredTime("CompletedAt", d.CompletedAt), required("Receipt", d.Receipt),
	}
	for i, s := range d.Stores {
		errs = append(errs, required(fmt.Sprintf("Stores[%d].Name", i), s.Name))
	}
	return errors.Join(errs...)
}

func (d PolicyPublishedData) validate() error {
	return errors.Join(required("Product", d.Product), required("Version", d.Version), required("Summary", d.Summary),
		requiredTime("EffectiveAt", d.EffectiveAt), absoluteURL("DocumentURL", d.DocumentURL))
}

func (d TenantOffboardedData) validate() error {
	errs := []error{required("Tenant", d.Tenant), requiredTime("CompletedAt", d.CompletedAt)}
	if d.Policy != "Erase" && d.Policy != "Retain" {
		errs = append(errs, fmt.Errorf("field Policy is %q, not Erase or Retain", d.Policy))
	}
	return errors.Join(errs...)
}

func required(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("field %s is empty", field)
	}
	return nil
}

func requiredTime(field string, t time.Time) error {
	if t.IsZero() {
		return fmt.Errorf("field %s is not set", field)
	}
	return nil
}

func absoluteURL(field, v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("field %s is not an absolute http(s) URL", field)
	}
	return nil
}
