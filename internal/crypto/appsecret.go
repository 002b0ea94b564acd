package crypto

// Entries of a tenant's app Secret, each a key of AppKeySize random bytes
// written as text (URL-safe base64 without padding, 43 characters). The app
// and the workers use the text as it is, as the key bytes.
const (
	// AppSecretSessionKey signs and encrypts the app's session cookies.
	AppSecretSessionKey = "session-key"
	// AppSecretUnsubscribeKey signs unsubscribe tokens (SignUnsubscribe).
	AppSecretUnsubscribeKey = "unsubscribe-key"
	// AppSecretBlindIndexKey keys the blind index (BlindIndex) and subject
	// fingerprints (SubjectFingerprint).
	AppSecretBlindIndexKey = "blind-index-key"
)

// AppKeySize is how many random bytes each app secret key holds.
const AppKeySize = 32

// AppSecretKeys lists the entries of the app Secret.
func AppSecretKeys() []string {
	return []string{AppSecretSessionKey, AppSecretUnsubscribeKey, AppSecretBlindIndexKey}
}

// NewAppKey returns one fresh app secret key: AppKeySize random bytes as
// URL-safe base64 text.
func NewAppKey() []byte { return []byte(GenerateSecret(AppKeySize)) }

// NewAppSecretData returns the data of a new app Secret: a fresh session
// key, unsubscribe key and blind-index key.
//
// Generate it once per tenant and never regenerate a key in place: a new
// unsubscribe key voids every link already sent, and a new blind-index key
// makes every stored index unfindable.
func NewAppSecretData() map[string][]byte {
	data := make(map[string][]byte, 3)
	for _, k := range AppSecretKeys() {
		data[k] = NewAppKey()
	}
	return data
}
