package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/inboxchat/inboxchat-operator/internal/crypto"
	"github.com/inboxchat/inboxchat-operator/internal/operator"
	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

// workerFlags are the flags every worker subcommand takes. Every path comes
// from a flag, so the local stand-in node can map it to a local folder.
type workerFlags struct {
	namespace, name string
	keyringDir      string
	appSecretDir    string
	filesDir        string
	storeCAFile     string
}

func (w *workerFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&w.namespace, "namespace", os.Getenv("POD_NAMESPACE"), "namespace of the object to work on")
	fs.StringVar(&w.name, "name", "", "name of the object to work on")
	fs.StringVar(&w.keyringDir, "keyring-dir", "/etc/inboxchat/keyring", "the tenant keyring Secret, mounted")
	fs.StringVar(&w.appSecretDir, "app-secret-dir", "/etc/inboxchat/app", "the tenant app Secret, mounted")
	fs.StringVar(&w.filesDir, "files-dir", "/data/files", "the tenant files volume")
	fs.StringVar(&w.storeCAFile, "store-ca-file", "/etc/inboxchat/store-tls/ca.crt", "CA of the managed stores' TLS certificates")
}

func (w *workerFlags) parse(fs *flag.FlagSet, args []string) error {
	w.bind(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if w.namespace == "" || w.name == "" {
		return errors.New("--namespace and --name are required")
	}
	ctrl.SetLogger(zap.New())
	return nil
}

// readDir reads a mounted Secret: one file per key.
func readDir(dir string) (map[string][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	data := map[string][]byte{}
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), "..") {
			continue
		}
		v, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		data[e.Name()] = v
	}
	return data, nil
}

// keyring loads the tenant keyring from its mounted Secret.
func (w *workerFlags) keyring() (*crypto.Keyring, error) {
	data, err := readDir(w.keyringDir)
	if err != nil {
		return nil, fmt.Errorf("reading the keyring: %w", err)
	}
	return crypto.KeyringFromSecretData(data)
}

// appKey reads one key of the tenant app Secret.
func (w *workerFlags) appKey(key string) ([]byte, error) {
	v, err := os.ReadFile(filepath.Join(w.appSecretDir, key))
	if err != nil {
		return nil, fmt.Errorf("reading the app secret key %s: %w", key, err)
	}
	return v, nil
}

// openDatabase opens the tenant database from INBOXCHAT_DATABASE_ENGINE and
// INBOXCHAT_DATABASE_DSN. A MySQL DSN with tls=inboxchat verifies the
// managed store's certificate against the store CA.
func (w *workerFlags) openDatabase(ctx context.Context) (*sql.DB, schema.Engine, error) {
	engine, err := schema.ParseEngine(envOr("INBOXCHAT_DATABASE_ENGINE", "postgres"))
	if err != nil {
		return nil, "", err
	}
	dsn := os.Getenv("INBOXCHAT_DATABASE_DSN")
	if dsn == "" {
		return nil, "", errors.New("INBOXCHAT_DATABASE_DSN is not set")
	}
	if engine == schema.MySQL && strings.Contains(dsn, "tls=inboxchat") {
		ca, err := os.ReadFile(w.storeCAFile)
		if err != nil {
			return nil, "", fmt.Errorf("reading the store CA: %w", err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		if err := mysql.RegisterTLSConfig("inboxchat", &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}); err != nil {
			return nil, "", err
		}
	}
	db, err := schema.Open(engine, dsn)
	if err != nil {
		return nil, "", fmt.Errorf("opening the tenant database: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, "", fmt.Errorf("connecting to the tenant database (%s): %w", engine, scrubDSN(err, dsn))
	}
	return db, engine, nil
}

// scrubDSN keeps a connection string (and its password) out of an error.
func scrubDSN(err error, dsn string) error {
	if err == nil {
		return nil
	}
	return errors.New(strings.ReplaceAll(err.Error(), dsn, "<dsn>"))
}

// kubeClient is a client acting as the worker's ServiceAccount.
func kubeClient() (client.Client, error) {
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: operator.Scheme()})
}

// statusPatcher writes a worker's progress to its object's status, at most
// every interval (phase changes and the final result are forced) and only
// when something changed since the last write.
type statusPatcher[T client.Object] struct {
	c        client.Client
	obj      T // the status as the worker sees it
	written  T // the object as last written
	interval time.Duration
	last     time.Time
}

func newStatusPatcher[T client.Object](c client.Client, obj T, interval time.Duration) *statusPatcher[T] {
	return &statusPatcher[T]{c: c, obj: obj, written: obj.DeepCopyObject().(T), interval: interval}
}

// update applies change and writes when due or when force is set.
func (p *statusPatcher[T]) update(ctx context.Context, force bool, change func(T)) error {
	change(p.obj)
	if !force && time.Since(p.last) < p.interval {
		return nil
	}
	return p.flush(ctx)
}

// flush writes what changed since the last write, if anything.
func (p *statusPatcher[T]) flush(ctx context.Context) error {
	patch := client.MergeFrom(p.written)
	data, err := patch.Data(p.obj)
	if err != nil {
		return err
	}
	if string(data) == "{}" {
		return nil
	}
	if err := p.c.Status().Patch(ctx, p.obj, patch); err != nil {
		return err
	}
	p.last = time.Now()
	p.written = p.obj.DeepCopyObject().(T)
	return nil
}
