package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/crypto"
	"github.com/inboxchat/inboxchat-operator/internal/fixtures"
	"github.com/inboxchat/inboxchat-operator/internal/localnode"
	"github.com/inboxchat/inboxchat-operator/internal/mail/smtptest"
	"github.com/inboxchat/inboxchat-operator/internal/messenger"
	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// demo is what `make run` adds around the operator so that every sample
// reaches its end state on one machine: the Messenger emulator the sample
// Tenant's Page sends to, the SMTP sink its e-mail goes to, its database and
// the app data the samples act on.
type demo struct {
	graph *messenger.Emulator
	smtp  *smtptest.Server
	sink  *sinkT

	tenant    v1alpha1.Tenant
	namespace string
	// dsn is the sample Tenant's database (the sample Secret's, or RUN_DATABASE_DSN).
	dsn string
	// dsnOverride is whether dsn came from RUN_DATABASE_DSN.
	dsnOverride bool
	redisURL    string
	node        *localnode.Node
}

// The sample ErasureRequest erases lead 1001 by its internal id; the seed
// makes that lead the one after a thousand other contacts.
const (
	contacts    = 1000
	subjectLead = 1001
)

// startDemo starts the Messenger emulator (accepting the sample Page's
// token) and the SMTP sink, both on loopback, for the one sample Tenant.
func startDemo(samples sampleSet, set settings) (*demo, error) {
	tenants := samples.ofKind("Tenant")
	if len(tenants) != 1 {
		return nil, fmt.Errorf("config/samples holds %d Tenants; make run expects exactly one", len(tenants))
	}
	d := &demo{redisURL: set.redisURL}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(tenants[0].Object, &d.tenant); err != nil {
		return nil, fmt.Errorf("the sample Tenant: %w", err)
	}
	t := &d.tenant
	d.namespace = t.NamespaceName()
	if t.Spec.Messenger == nil {
		return nil, fmt.Errorf("the sample Tenant %s has no spec.messenger: the sample Broadcast cannot send", t.Name)
	}
	if t.Spec.Notifications.SMTPSecretRef == nil {
		return nil, fmt.Errorf("the sample Tenant %s has no spec.notifications.smtpSecretRef: the sample PolicyUpdate cannot e-mail", t.Name)
	}
	ext := t.Spec.Stores.Database.External
	if ext == nil || ext.Engine != v1alpha1.DatabaseEnginePostgres {
		return nil, fmt.Errorf("the sample Tenant %s must use an external PostgreSQL database (make run prepares it on the local PostgreSQL)", t.Name)
	}
	d.dsn, d.dsnOverride = set.databaseDSN, set.databaseDSN != ""
	if d.dsn == "" {
		dsn, err := samples.secretValue(d.namespace, ext.SecretRef.Name, "dsn")
		if err != nil {
			return nil, err
		}
		d.dsn = dsn
	}
	token, err := samples.secretValue(d.namespace, t.Spec.Messenger.AccessTokenSecretRef.Name, "accessToken")
	if err != nil {
		return nil, err
	}
	if d.graph, err = messenger.NewEmulator(messenger.EmulatorConfig{Addr: "127.0.0.1:0", AccessTokens: []string{token}, RatePerSecond: 300}); err != nil {
		return nil, err
	}
	// smtptest is the SMTP server of the e2e suite; it speaks real SMTP.
	d.sink = &sinkT{}
	if d.smtp, err = d.sink.start(); err != nil {
		_ = d.graph.Close()
		return nil, err
	}
	return d, nil
}

// close stops the emulator and the SMTP sink.
func (d *demo) close() {
	_ = d.graph.Close()
	d.sink.cleanup()
}

// patch adapts the samples, in memory, to this machine and says what it
// changed. The emulator and the sink listen on free ports, so the files cannot
// name them.
func (d *demo) patch(samples sampleSet, now time.Time) []string {
	var notes []string
	t := &d.tenant
	for _, u := range samples.ofKind("Tenant") {
		_ = unstructured.SetNestedField(u.Object, d.graph.URL(), "spec", "messenger", "graphAPIURL")
		notes = append(notes, fmt.Sprintf("tenant %s: spec.messenger.graphAPIURL set to the Messenger emulator", u.GetName()))
	}
	if s := samples.find("Secret", d.namespace, t.Spec.Notifications.SMTPSecretRef.Name); s != nil {
		setStringData(s, "host", "127.0.0.1")
		setStringData(s, "port", strconv.Itoa(d.smtp.Port()))
		setStringData(s, "tls", "none")
		notes = append(notes, fmt.Sprintf("secret %s: host and port set to the SMTP sink", name(s.GetNamespace(), s.GetName())))
	}
	if s := samples.find("Secret", d.namespace, t.Spec.Stores.Database.External.SecretRef.Name); s != nil && d.dsnOverride {
		setStringData(s, "dsn", d.dsn)
		notes = append(notes, fmt.Sprintf("secret %s: dsn from RUN_DATABASE_DSN", name(s.GetNamespace(), s.GetName())))
	}
	if sess := t.Spec.Stores.Sessions; sess != nil && sess.External != nil && d.redisURL != "" {
		if s := samples.find("Secret", d.namespace, sess.External.SecretRef.Name); s != nil {
			setStringData(s, "url", d.redisURL)
			notes = append(notes, fmt.Sprintf("secret %s: url from RUN_REDIS_URL", name(s.GetNamespace(), s.GetName())))
		}
	}
	// A policy version that takes effect later would only be Scheduled;
	// the demo publishes it now.
	for _, u := range samples.ofKind("PolicyUpdate") {
		s, _, _ := unstructured.NestedString(u.Object, "spec", "effectiveAt")
		if at, err := time.Parse(time.RFC3339, s); err == nil && at.After(now) {
			_ = unstructured.SetNestedField(u.Object, now.UTC().Format(time.RFC3339), "spec", "effectiveAt")
			notes = append(notes, fmt.Sprintf("policyupdate %s: effectiveAt %s is still ahead; set to now so that it publishes", name(u.GetNamespace(), u.GetName()), s))
		}
	}
	return notes
}

func setStringData(u *unstructured.Unstructured, key, value string) {
	_ = unstructured.SetNestedField(u.Object, value, "stringData", key)
	unstructured.RemoveNestedField(u.Object, "data", key)
}

// secretValue reads a key of a sample Secret (stringData or data).
func (s sampleSet) secretValue(namespace, secret, key string) (string, error) {
	u := s.find("Secret", namespace, secret)
	if u == nil {
		return "", fmt.Errorf("config/samples has no Secret %s/%s, which the sample Tenant names", namespace, secret)
	}
	if v, ok, _ := unstructured.NestedString(u.Object, "stringData", key); ok && v != "" {
		return v, nil
	}
	if v, ok, _ := unstructured.NestedString(u.Object, "data", key); ok && v != "" {
		b, err := base64.StdEncoding.DecodeString(v)
		return string(b), err
	}
	return "", fmt.Errorf("the sample Secret %s/%s has no key %s", namespace, secret, key)
}

var databaseName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// resetDatabase drops and creates the tenant's database and applies the
// reference schema (for an external database no migrate Job runs; the app's
// own migrations would). Data of an earlier run is sealed with a keyring
// that went with its control plane, so it is never kept.
func resetDatabase(ctx context.Context, dsn string) error {
	u, err := url.Parse(dsn)
	if err != nil {
		return fmt.Errorf("the demo database DSN: %w", err)
	}
	db := strings.TrimPrefix(u.Path, "/")
	if !databaseName.MatchString(db) {
		return fmt.Errorf("the demo database name %q is not a plain PostgreSQL identifier", db)
	}
	adminURL := *u
	adminURL.Path = "/postgres"
	admin, err := schema.Open(schema.Postgres, adminURL.String())
	if err != nil {
		return err
	}
	defer admin.Close()
	if err := admin.PingContext(ctx); err != nil {
		return fmt.Errorf("PostgreSQL is not reachable on %s (start it with: hack/ensure-services.sh): %w", u.Host, err)
	}
	if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("dropping the demo database %s: %w", db, err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+db); err != nil {
		return fmt.Errorf("creating the demo database %s: %w", db, err)
	}
	tdb, err := schema.Open(schema.Postgres, dsn)
	if err != nil {
		return err
	}
	defer tdb.Close()
	_, err = schema.Apply(ctx, tdb, schema.Postgres)
	return err
}

// redactDSN drops the password from a DSN for printing.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "the configured database"
	}
	return u.Redacted()
}

var (
	firstNames = []string{"Ana", "Ben", "Chloé", "Dmitri", "Elif", "Farah", "Goran", "Hana", "Iker", "Jun", "Kofi", "Lina", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tomás"}
	lastNames  = []string{"Silva", "Novak", "Dubois", "Yilmaz", "Okafor", "Kim", "Rossi", "Haddad", "Larsen", "Moreau"}
)

// seed writes the demo tenant's app data the way its app would: fields
// sealed with the keyring the operator generated, PSIDs and e-mail
// addresses findable through the blind index. A thousand Messenger contacts,
// some tagged newsletter (the sample Broadcast's audience, some of them VIP,
// unsubscribed, without opt-in or outside the 24-hour window), then lead
// 1001 with a conversation and an upload (the sample ErasureRequest's
// subject), and a few app users (the sample PolicyUpdate e-mails them).
func (d *demo) seed(ctx context.Context, a *applier) (string, error) {
	read := func(n string) (map[string][]byte, error) {
		s := &corev1.Secret{}
		if err := a.c.Get(ctx, client.ObjectKey{Namespace: d.namespace, Name: n}, s); err != nil {
			return nil, fmt.Errorf("reading the tenant's Secret %s: %w", n, err)
		}
		return s.Data, nil
	}
	krData, err := read("inboxchat-keyring")
	if err != nil {
		return "", err
	}
	kr, err := crypto.KeyringFromSecretData(krData)
	if err != nil {
		return "", err
	}
	app, err := read("inboxchat-app")
	if err != nil {
		return "", err
	}
	db, err := schema.Open(schema.Postgres, d.dsn)
	if err != nil {
		return "", err
	}
	defer db.Close()
	// One connection, so that the session setting holds for every insert:
	// demo rows need no synchronous commit, and it makes the seed fast.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	if _, err := db.ExecContext(ctx, "SET synchronous_commit TO off"); err != nil {
		return "", err
	}
	s := &fixtures.Seeder{DB: db, Engine: schema.Postgres, Keyring: kr, BlindIndexKey: app["blind-index-key"]}
	pageID := d.tenant.Spec.Messenger.PageID
	newsletter := 0
	for i := 1; i <= contacts; i++ {
		l := fixtures.Lead{
			PageID:    pageID,
			PSID:      strconv.Itoa(7100000000000000 + i),
			FirstName: firstNames[i%len(firstNames)],
			LastName:  lastNames[(i/len(firstNames))%len(lastNames)],
			OptedIn:   i%70 != 0,
		}
		if i%10 == 0 {
			l.Tags = append(l.Tags, "newsletter")
			newsletter++
		}
		if i%50 == 0 {
			l.Tags = append(l.Tags, "vip")
		}
		l.Unsubscribed = i%30 == 0
		if i%40 == 0 {
			l.LastInbound = time.Now().Add(-72 * time.Hour)
		}
		if _, err := s.AddLead(ctx, l); err != nil {
			return "", err
		}
	}
	id, err := s.AddLead(ctx, fixtures.Lead{PageID: pageID, PSID: strconv.Itoa(7100000000000000 + subjectLead), FirstName: "Dora", LastName: "Exit", OptedIn: true, Tags: []string{"support"}})
	if err != nil {
		return "", err
	}
	if id != subjectLead {
		return "", fmt.Errorf("the ErasureRequest's lead got id %d instead of %d: the demo database was not empty", id, subjectLead)
	}
	for _, m := range []struct{ dir, text string }{
		{"inbound", "Hi! I am moving away; please delete everything you have about me."},
		{"outbound", "Sorry to see you go: we will erase your data and send you nothing more."},
	} {
		if err := s.AddMessage(ctx, id, m.dir, m.text); err != nil {
			return "", err
		}
	}
	upload := filepath.Join(d.node.ClaimDir(d.namespace, "inboxchat-files"), "leads", strconv.FormatInt(id, 10), "receipt.jpg")
	if err := os.MkdirAll(filepath.Dir(upload), 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(upload, []byte("a photo of a receipt"), 0o600); err != nil {
		return "", err
	}
	users := []fixtures.User{
		{Email: "owner@demo-shop.example", Name: "Olga Owner", NotifyEmail: true},
		{Email: "ana@customers.example", Name: "Ana Silva", NotifyEmail: true},
		{Email: "ben@customers.example", Name: "Ben Novak", NotifyEmail: false},
		{Email: "chloe@customers.example", Name: "Chloé Dubois", NotifyEmail: true},
		{Email: "dmitri@customers.example", Name: "Dmitri Yilmaz", NotifyEmail: true},
		{Email: "elif@customers.example", Name: "Elif Okafor", NotifyEmail: true},
	}
	for i, u := range users {
		uid, err := s.AddUser(ctx, u)
		if err != nil {
			return "", err
		}
		if err := s.AddSecurityLog(ctx, uid, fmt.Sprintf("198.51.100.%d", 10+i), "login", time.Now().Add(-time.Duration(i+1)*time.Hour)); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("%d Messenger leads (%d tagged newsletter), lead %d with a conversation and an upload, %d app users", contacts+1, newsletter, id, len(users)), nil
}

// sinkT lets smtptest, written for tests, run in a program: it keeps the
// cleanups and turns a fatal error into an error.
type sinkT struct{ cleanups []func() }

func (s *sinkT) Helper()                   {}
func (s *sinkT) Cleanup(f func())          { s.cleanups = append(s.cleanups, f) }
func (s *sinkT) Fatalf(f string, a ...any) { panic(sinkFailure(fmt.Sprintf(f, a...))) }

type sinkFailure string

func (s *sinkT) start() (srv *smtptest.Server, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(sinkFailure)
			if !ok {
				panic(r)
			}
			s.cleanup()
			err = fmt.Errorf("starting the SMTP sink: %s", f)
		}
	}()
	return smtptest.New(s), nil
}

func (s *sinkT) cleanup() {
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
	s.cleanups = nil
}
