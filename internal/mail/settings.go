package mail

import (
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"strconv"
	"strings"
)

// TLSMode says how a Mailer protects the SMTP connection.
type TLSMode string

const (
	// TLSOpportunistic upgrades with STARTTLS when the server offers it and
	// sends in the clear otherwise. Credentials are still never sent in the
	// clear, except to a loopback server. The default.
	TLSOpportunistic TLSMode = "opportunistic"
	// TLSStartTLS requires STARTTLS; a server that does not offer it is an
	// error. Default port 587.
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit speaks TLS from the first byte (SMTPS). Default port 465.
	TLSImplicit TLSMode = "tls"
	// TLSNone never uses TLS. Default port 25.
	TLSNone TLSMode = "none"
)

// Keys of the SMTP Secret that SettingsFromSecretData reads.
const (
	SecretKeyHost     = "host"
	SecretKeyPort     = "port"
	SecretKeyUsername = "username"
	SecretKeyPassword = "password"
	SecretKeyFrom     = "from"
	SecretKeyTLS      = "tls"
)

// Settings say how to reach an SMTP server and who the mail is from.
type Settings struct {
	// Host is the SMTP server's name or IP address.
	Host string
	// Port is the SMTP port; zero means the default for TLS.
	Port int
	// Username authenticates; empty (with Password) means no AUTH.
	Username string
	// Password goes with Username. It is never printed.
	Password string
	// From is the sender, as an address or "Name <address>".
	From string
	// TLS is the TLS mode; empty means TLSOpportunistic.
	TLS TLSMode
}

// SettingsFromSecretData reads Settings from the data of an SMTP Secret:
// host, port, username, password, from and the optional tls (starttls, tls,
// opportunistic or none; default opportunistic). Surrounding white space is
// removed from every value but the password, which only loses a trailing
// line break (as left by files turned into Secrets).
func SettingsFromSecretData(data map[string][]byte) (Settings, error) {
	get := func(key string) string { return strings.TrimSpace(string(data[key])) }
	s := Settings{
		Host:     get(SecretKeyHost),
		Username: get(SecretKeyUsername),
		Password: strings.TrimRight(string(data[SecretKeyPassword]), "\r\n"),
		From:     get(SecretKeyFrom),
		TLS:      TLSMode(strings.ToLower(get(SecretKeyTLS))),
	}
	if p := get(SecretKeyPort); p != "" {
		port, err := strconv.Atoi(p)
		if err != nil {
			return Settings{}, fmt.Errorf("mail: secret key %q is not a port number", SecretKeyPort)
		}
		s.Port = port
	}
	var missing []string
	for _, k := range []string{SecretKeyHost, SecretKeyFrom} {
		if get(k) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return Settings{}, fmt.Errorf("mail: SMTP secret lacks the key(s) %s", strings.Join(missing, ", "))
	}
	if err := s.Validate(); err != nil {
		return Settings{}, err
	}
	return s.withDefaults(), nil
}

// Validate reports the first problem with s.
func (s Settings) Validate() error {
	if s.Host == "" {
		return errors.New("mail: SMTP host is empty")
	}
	if strings.ContainsAny(s.Host, " /\t\r\n") {
		return fmt.Errorf("mail: SMTP host %q is not a host name", s.Host)
	}
	if s.Port < 0 || s.Port > 65535 {
		return fmt.Errorf("mail: SMTP port %d is out of range", s.Port)
	}
	switch s.TLS {
	case "", TLSOpportunistic, TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return fmt.Errorf("mail: TLS mode %q is not one of starttls, tls, opportunistic, none", s.TLS)
	}
	if (s.Username == "") != (s.Password == "") {
		return errors.New("mail: SMTP username and password must be given together")
	}
	if s.From == "" {
		return errors.New("mail: sender (from) is empty")
	}
	if _, err := netmail.ParseAddress(s.From); err != nil {
		return errors.New("mail: sender (from) is not an e-mail address")
	}
	return nil
}

// withDefaults fills in the TLS mode and the port.
func (s Settings) withDefaults() Settings {
	if s.TLS == "" {
		s.TLS = TLSOpportunistic
	}
	if s.Port == 0 {
		switch s.TLS {
		case TLSImplicit:
			s.Port = 465
		case TLSNone:
			s.Port = 25
		default:
			s.Port = 587
		}
	}
	return s
}

// Addr is host:port of the server.
func (s Settings) Addr() string {
	return net.JoinHostPort(s.Host, strconv.Itoa(s.withDefaults().Port))
}

// String describes s without the password.
func (s Settings) String() string {
	d := s.withDefaults()
	auth := "no auth"
	if d.Username != "" {
		auth = "auth as " + d.Username
	}
	return fmt.Sprintf("smtp://%s (%s, %s, from %s)", d.Addr(), d.TLS, auth, d.From)
}

// GoString is String, so that %#v does not print the password either.
func (s Settings) GoString() string { return s.String() }
