package main

import (
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/internal/retention"
)

func init() { subcommands["prune"] = runPrune }

// runPrune is the retention worker, run daily by the tenant's CronJob:
// security-log rows past their retention, expired exports and orphaned
// sessions go; the counts go to the report ConfigMap the Tenant reflects.
func runPrune(args []string) error {
	var w workerFlags
	fs := flag.NewFlagSet("prune", flag.ContinueOnError)
	report := fs.String("report-configmap", "inboxchat-prune-report", "ConfigMap to write the counts to")
	if err := w.parse(fs, args); err != nil {
		return err
	}
	ctx := ctrl.SetupSignalHandler()
	securityLogs, err := durationEnv("INBOXCHAT_RETENTION_SECURITY_LOGS")
	if err != nil {
		return err
	}
	exports, err := durationEnv("INBOXCHAT_RETENTION_EXPORTS")
	if err != nil {
		return err
	}
	db, engine, err := w.openDatabase(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	rdb, err := w.openRedis()
	if err != nil {
		return err
	}
	defer rdb.Close()
	r, err := retention.Prune(ctx, retention.Config{DB: db, Engine: engine, Redis: rdb, FilesRoot: w.filesDir, SecurityLogs: securityLogs, Exports: exports})
	if err != nil {
		return err
	}
	c, err := kubeClient()
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: w.namespace, Name: *report}, cm); err != nil {
		return fmt.Errorf("reading the report ConfigMap: %w", err)
	}
	patch := client.MergeFrom(cm.DeepCopy())
	cm.Data = map[string]string{
		"ranAt":              r.RanAt.UTC().Format(time.RFC3339),
		"securityLogsPruned": strconv.FormatInt(r.SecurityLogsPruned, 10),
		"exportsPruned":      strconv.FormatInt(r.ExportsPruned, 10),
		"sessionsPruned":     strconv.FormatInt(r.SessionsPruned, 10),
	}
	return c.Patch(ctx, cm, patch)
}

// durationEnv reads a duration from the environment.
func durationEnv(key string) (time.Duration, error) {
	d, err := time.ParseDuration(os.Getenv(key))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", key, err)
	}
	return d, nil
}

// openRedis connects to the tenant's session store from INBOXCHAT_REDIS_URL;
// a rediss:// URL of a managed store is verified against the store CA.
func (w *workerFlags) openRedis() (*redis.Client, error) {
	opt, err := redis.ParseURL(os.Getenv("INBOXCHAT_REDIS_URL"))
	if err != nil {
		return nil, fmt.Errorf("INBOXCHAT_REDIS_URL is not a redis URL")
	}
	if opt.TLSConfig != nil {
		if ca, err := os.ReadFile(w.storeCAFile); err == nil {
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(ca)
			opt.TLSConfig.RootCAs = pool
		}
	}
	return redis.NewClient(opt), nil
}
