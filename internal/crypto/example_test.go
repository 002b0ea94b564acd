package crypto_test

import (
	"fmt"
	"time"

	"github.com/inboxchat/inboxchat-operator/internal/crypto"
)

func ExampleKeyring() {
	now := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	kr, _ := crypto.NewKeyring(now)
	sealed, _ := kr.Seal([]byte("jane@example.com"), []byte("users.email:42"))

	// 90 days later the tenant controller rotates and stores the keyring.
	now = now.Add(90 * 24 * time.Hour)
	if kr.DueForRotation(now, 90*24*time.Hour) {
		_ = kr.Rotate(now)
	}
	data, _ := kr.MarshalSecretData()

	// A worker reads the Secret and opens data sealed before the rotation.
	stored, _ := crypto.KeyringFromSecretData(data)
	plaintext, _ := stored.Open(sealed, []byte("users.email:42"))
	id, _ := crypto.KeyIDOf(sealed)
	fmt.Println(stored.ActiveKeyID(), stored.KeyIDs(), id, string(plaintext))
	// Output: k2 [k1 k2] k1 jane@example.com
}

func ExampleSignUnsubscribe() {
	key := crypto.NewAppSecretData()[crypto.AppSecretUnsubscribeKey]
	token, _ := crypto.SignUnsubscribe(key, crypto.UnsubscribeClaims{
		Tenant: "acme", LeadID: "1001", Broadcast: "spring-sale",
		IssuedAt: time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC),
	})
	// The link is https://<tenant host>/unsubscribe/<token>.
	claims, err := crypto.VerifyUnsubscribe(key, "acme", token)
	fmt.Println(claims.LeadID, claims.Broadcast, err)
	_, err = crypto.VerifyUnsubscribe(key, "globex", token)
	fmt.Println(err)
	// Output:
	// 1001 spring-sale <nil>
	// crypto: the unsubscribe token belongs to another tenant
}
