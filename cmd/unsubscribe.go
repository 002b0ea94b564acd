package main

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/inboxchat/inboxchat-operator/internal/unsubscribe"
)

func init() { subcommands["unsubscribe"] = runUnsubscribe }

// runUnsubscribe serves the unsubscribe links of a tenant's broadcasts behind
// its Ingress: GET shows a confirmation page, POST records the opt-out.
func runUnsubscribe(args []string) error {
	fs := flag.NewFlagSet("unsubscribe", flag.ContinueOnError)
	listen := fs.String("listen", ":8080", "address to serve on")
	tenant := fs.String("tenant", os.Getenv("INBOXCHAT_TENANT"), "the tenant whose links this server accepts")
	w := workerFlags{}
	fs.StringVar(&w.appSecretDir, "app-secret-dir", "/etc/inboxchat/app", "the tenant app Secret, mounted")
	fs.StringVar(&w.storeCAFile, "store-ca-file", "/etc/inboxchat/store-tls/ca.crt", "CA of the managed stores' TLS certificates")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New())
	ctx := ctrl.SetupSignalHandler()
	key, err := os.ReadFile(filepath.Join(w.appSecretDir, "unsubscribe-key"))
	if err != nil {
		return errors.New("reading the unsubscribe key from the app secret failed")
	}
	db, engine, err := w.openDatabase(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	srv := &http.Server{
		Addr:              *listen,
		Handler:           &unsubscribe.Handler{DB: db, Engine: engine, Key: key, Tenant: *tenant},
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
