package main

import (
	"flag"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

func init() { subcommands["migrate"] = runMigrate }

// runMigrate applies the reference schema's migrations to a managed tenant
// database. It is idempotent and safe to run twice at once (a lock in the
// database serialises runs).
func runMigrate(args []string) error {
	var w workerFlags
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	if err := w.parse(fs, args); err != nil {
		return err
	}
	ctx := ctrl.SetupSignalHandler()
	db, engine, err := w.openDatabase(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := schema.Apply(ctx, db, engine)
	if err != nil {
		return fmt.Errorf("migrating the tenant database: %w", err)
	}
	ctrl.Log.Info("migrated the tenant database", "applied", n)
	return nil
}
