package controllers

import (
	"fmt"
	netmail "net/mail"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

// SubjectSecretProblem says what is wrong with a subject Secret for a subject
// of the kind, or "" when it is fit: it must hold exactly one identifier key
// for that kind (email or id for Users, psid or id for Leads), and the value
// must have that identifier's shape. The answer names keys, never values,
// so it can go into a condition or an admission response.
func SubjectSecretProblem(s *corev1.Secret, kind v1alpha1.SubjectKind) string {
	allowed := subjectKeys(kind)
	var key string
	found := 0
	for _, k := range allowed {
		if len(s.Data[k]) > 0 || s.StringData[k] != "" {
			key = k
			found++
		}
	}
	if found != 1 {
		return fmt.Sprintf("the subject Secret %s must hold exactly one of the keys %v for a %s", s.Name, allowed, kind)
	}
	value := string(s.Data[key])
	if value == "" {
		value = s.StringData[key]
	}
	if !subjectValueShapes[key](strings.TrimSpace(value)) {
		return fmt.Sprintf("the key %s of the subject Secret %s does not hold %s", key, s.Name, subjectValueDescriptions[key])
	}
	return ""
}

// subjectValueShapes check an identifier's shape, by Secret key.
var subjectValueShapes = map[string]func(string) bool{
	"email": func(v string) bool {
		a, err := netmail.ParseAddress(v)
		return err == nil && a.Name == "" && a.Address == v
	},
	"psid": func(v string) bool { return psidPattern.MatchString(v) },
	"id":   func(v string) bool { return subjectIDPattern.MatchString(v) },
}

// subjectValueDescriptions describe the expected shapes, by Secret key.
var subjectValueDescriptions = map[string]string{
	"email": "one plain e-mail address (no display name)",
	"psid":  "a page-scoped ID (digits only)",
	"id":    "an internal id (letters, digits, - and _, at most 64)",
}

var (
	psidPattern      = regexp.MustCompile(`^[0-9]{1,32}$`)
	subjectIDPattern = regexp.MustCompile(`^[A-Za-z0-9][-_A-Za-z0-9]{0,63}$`)
)
