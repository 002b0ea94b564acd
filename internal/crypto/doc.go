// Package crypto holds a tenant's cryptography, with no Kubernetes imports:
//
//   - [Keyring]: versioned AES-256-GCM keys (k1, k2, ...) that encrypt
//     personal data at rest, rotated on a schedule, serialised to the data of
//     a Secret;
//   - [Keyring.Seal] and [Keyring.Open]: field encryption whose ciphertext
//     names the key that sealed it, so data sealed before a rotation opens
//     after it;
//   - [BlindIndex]: a keyed HMAC of a normalised value, for equality lookups
//     of encrypted fields;
//   - [SignUnsubscribe] and [VerifyUnsubscribe]: signed unsubscribe tokens
//     that carry opaque ids only;
//   - [SubjectFingerprint]: a keyed, irreversible name for a data subject;
//   - [NextReceipt] and [VerifyReceiptChain]: the erasure receipt chain;
//   - [GenerateSecret] and [NewAppSecretData]: generated credentials and keys.
//
// Errors never carry plaintext, keys or tokens.
package crypto
