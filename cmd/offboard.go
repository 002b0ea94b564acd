package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/internal/erasure"
)

func init() { subcommands["offboard"] = runOffboard }

// runOffboard erases everything the data map names from every store of a
// tenant that is leaving (for external stores, only what the map names),
// verifies by re-query, and writes the per-store counts to its report
// ConfigMap for the operator's offboarding receipt.
func runOffboard(args []string) error {
	var w workerFlags
	fs := flag.NewFlagSet("offboard", flag.ContinueOnError)
	report := fs.String("report-configmap", "inboxchat-offboard-report", "ConfigMap to write the counts to")
	if err := w.parse(fs, args); err != nil {
		return err
	}
	ctx := ctrl.SetupSignalHandler()
	m, err := loadDataMap()
	if err != nil {
		return err
	}
	stores, closeStores, err := w.erasureStores(ctx)
	if err != nil {
		return err
	}
	defer closeStores()
	results, runErr := erasure.EraseTenant(ctx, stores, m)
	c, err := kubeClient()
	if err != nil {
		return err
	}
	data, err := json.Marshal(results)
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: w.namespace, Name: *report}, cm); err != nil {
		return fmt.Errorf("reading the report ConfigMap: %w", err)
	}
	patch := client.MergeFrom(cm.DeepCopy())
	cm.Data = map[string]string{"stores": string(data), "ranAt": time.Now().UTC().Format(time.RFC3339)}
	if runErr == nil {
		cm.Data["verified"] = "true"
	}
	finalCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Patch(finalCtx, cm, patch); err != nil {
		return err
	}
	return erasure.Scrub(runErr)
}
