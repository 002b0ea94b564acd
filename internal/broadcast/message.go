package broadcast

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/crypto"
)

// UnsubscribePath is the path prefix of unsubscribe links; the project's
// unsubscribe server serves it behind the tenant's Ingress.
const UnsubscribePath = "/unsubscribe/"

// LeadAssociatedData is the associated data a lead field is sealed with:
// "leads.<column>:<id>" where column is the column name without "_enc", for
// example "leads.psid:42". It binds each envelope to its row and column, as
// "users.email:<id>" does for users.
func LeadAssociatedData(column string, leadID int64) []byte {
	return []byte("leads." + column + ":" + strconv.FormatInt(leadID, 10))
}

// UnsubscribeURL returns the link that unsubscribes one lead: the tenant
// host, UnsubscribePath and a token signed with the tenant's key that names
// the tenant, the lead id and the broadcast, and nothing personal. It fails
// as crypto.SignUnsubscribe does: a key shorter than 16 bytes, a tenant or
// broadcast that is not a Kubernetes object name.
func UnsubscribeURL(key []byte, tenant, host, broadcast string, leadID int64, now time.Time) (string, error) {
	token, err := crypto.SignUnsubscribe(key, crypto.UnsubscribeClaims{
		Tenant:    tenant,
		LeadID:    strconv.FormatInt(leadID, 10),
		Broadcast: broadcast,
		IssuedAt:  now,
	})
	if err != nil {
		return "", err
	}
	return "https://" + host + UnsubscribePath + token, nil
}

// unsubscribeSuffix is what every message ends with.
func unsubscribeSuffix(link string) string {
	return "\n\nUnsubscribe: " + link
}

// composeText returns the message text for one lead: the rendered template
// and the unsubscribe link, which no option removes.
func composeText(rendered, link string) string {
	return strings.TrimRight(rendered, " \t\r\n") + unsubscribeSuffix(link)
}

// sampleLink is an unsubscribe link as long as the ones this
// configuration makes (lead ids up to 19 digits), for checking message
// limits before a run. Fields left empty, as ValidateSpec allows, get short
// stand-ins, so that check is exact only when they are filled in.
func sampleLink(c Config) (string, error) {
	key, tenant, host, name := c.UnsubscribeKey, c.Tenant, c.Host, c.Broadcast
	if len(key) == 0 {
		key = make([]byte, 32)
	}
	if tenant == "" {
		tenant = "tenant"
	}
	if host == "" {
		host = "example.com"
	}
	if name == "" {
		name = "broadcast"
	}
	return UnsubscribeURL(key, tenant, host, name, math.MaxInt64, time.Date(2099, 12, 31, 23, 59, 59, 0, time.UTC))
}
