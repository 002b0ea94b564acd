package mail

import (
	"fmt"
	"strings"
	"testing"
)

func secretData(kv ...string) map[string][]byte {
	m := make(map[string][]byte)
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = []byte(kv[i+1])
	}
	return m
}

func TestSettingsFromSecretData(t *testing.T) {
	t.Run("a complete secret", func(t *testing.T) {
		s, err := SettingsFromSecretData(secretData(
			"host", "smtp.example.com\n", "port", "2525", "username", "mailer", "password", "p@ss word\n",
			"from", "InboxChat <noreply@example.com>", "tls", "STARTTLS"))
		if err != nil {
			t.Fatal(err)
		}
		want := Settings{Host: "smtp.example.com", Port: 2525, Username: "mailer", Password: "p@ss word",
			From: "InboxChat <noreply@example.com>", TLS: TLSStartTLS}
		if s != want {
			t.Fatalf("got %#v, want %#v", s, want)
		}
	})

	defaults := []struct {
		tls  string
		mode TLSMode
		port int
	}{
		{"", TLSOpportunistic, 587},
		{"opportunistic", TLSOpportunistic, 587},
		{"starttls", TLSStartTLS, 587},
		{"tls", TLSImplicit, 465},
		{"none", TLSNone, 25},
	}
	for _, d := range defaults {
		t.Run(fmt.Sprintf("tls %q defaults to port %d", d.tls, d.port), func(t *testing.T) {
			s, err := SettingsFromSecretData(secretData("host", "mx", "from", "a@example.com", "tls", d.tls))
			if err != nil {
				t.Fatal(err)
			}
			if s.TLS != d.mode || s.Port != d.port {
				t.Fatalf("got %s port %d, want %s port %d", s.TLS, s.Port, d.mode, d.port)
			}
		})
	}

	bad := []struct {
		name string
		data map[string][]byte
		want string
	}{
		{"no host", secretData("from", "a@example.com"), "lacks the key(s) host"},
		{"nothing", secretData(), "lacks the key(s) host, from"},
		{"port not a number", secretData("host", "mx", "from", "a@example.com", "port", "smtp"), "not a port number"},
		{"port out of range", secretData("host", "mx", "from", "a@example.com", "port", "70000"), "out of range"},
		{"unknown TLS mode", secretData("host", "mx", "from", "a@example.com", "tls", "ssl"), "not one of"},
		{"username without password", secretData("host", "mx", "from", "a@example.com", "username", "u"), "together"},
		{"password without username", secretData("host", "mx", "from", "a@example.com", "password", "p"), "together"},
		{"from not an address", secretData("host", "mx", "from", "InboxChat"), "not an e-mail address"},
		{"host with a path", secretData("host", "mx/x", "from", "a@example.com"), "not a host name"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			_, err := SettingsFromSecretData(b.data)
			if err == nil || !strings.Contains(err.Error(), b.want) {
				t.Fatalf("error %v, want one containing %q", err, b.want)
			}
		})
	}
}

func TestSettingsNeverPrintThePassword(t *testing.T) {
	s := Settings{Host: "mx", Username: "u", Password: "hunter2-secret", From: "a@example.com"}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(format, s); strings.Contains(out, "hunter2-secret") {
			t.Fatalf("%s prints the password: %s", format, out)
		}
	}
	if got := s.String(); got != "smtp://mx:587 (opportunistic, auth as u, from a@example.com)" {
		t.Fatalf("String() = %q", got)
	}
}
