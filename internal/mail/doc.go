// Package mail sends the operator's e-mail notices over SMTP.
//
// Settings come from a tenant's SMTP Secret (SettingsFromSecretData). A
// Mailer sends one Message per SMTP transaction as multipart text and HTML,
// refusing to send credentials over an unencrypted connection except on
// loopback. Failures are classified with IsTemporary (SMTP 4xx, network
// errors: retry later) and IsPermanent (SMTP 5xx, configuration errors); a
// refused RCPT is reported per recipient by a *RecipientError while the
// other recipients still get the message.
//
// Render turns a notice Kind and its data into a Notice (subject, text and
// HTML) from embedded templates. Each Kind has its own data type, which has
// no field for personal data; Render refuses any other type.
package mail
