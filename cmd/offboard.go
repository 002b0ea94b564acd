package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/internal/erasure"
)

func init() { subcommands["offboard"] = runOffboard }

// Keys of the offboard report ConfigMap that the operator reads.
const (
	reportStores          = "stores"
	reportRanAt           = "ranAt"
	reportVerified        = "verified"
	reportExportLocation  = "exportLocation"
	reportExportSHA256    = "exportSHA256"
	reportExportExpiresAt = "exportExpiresAt"
	reportExportError     = "exportError"
	reportLegalHolds      = "legalHolds"
)

// runOffboard erases everything the data map names from every store of a
// tenant that is leaving (for external stores, only what the map names),
// verifies by re-query, and writes the per-store counts to its report
// ConfigMap for the operator's offboarding receipt.
//
// With --export=<uid> it first writes an encrypted export of all of it to
// exports/offboarding-<uid>/ on the files volume (erasure.ExportTenant),
// reports its location, digest and expiry, and erases everything but that
// export. When the export fails, nothing is erased. Without an export, legal
// holds in force stop it before anything is erased; it reports their count.
func runOffboard(args []string) error {
	var w workerFlags
	fs := flag.NewFlagSet("offboard", flag.ContinueOnError)
	report := fs.String("report-configmap", "inboxchat-offboard-report", "ConfigMap to write the counts to")
	exportUID := fs.String("export", "", "export the whole tenant first, as exports/offboarding-<uid>/, and keep it")
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
	engine, err := erasure.New(stores, m, erasure.Options{KeepExport: *exportUID, Logger: slog.Default()})
	if err != nil {
		return erasure.Scrub(err)
	}
	data := map[string]string{}
	var (
		runErr error
		held   *erasure.LegalHoldsError
	)
	if *exportUID != "" {
		exp, err := engine.ExportTenant(ctx, *exportUID)
		if err != nil {
			data[reportExportError] = erasure.Scrub(err).Error()
			runErr = fmt.Errorf("the export failed, nothing was erased: %w", err)
		} else {
			data[reportExportLocation] = exp.Location
			data[reportExportSHA256] = exp.SHA256
			data[reportExportExpiresAt] = exp.ExpiresAt.UTC().Format(time.RFC3339)
		}
	}
	if runErr == nil {
		results, err := engine.EraseTenant(ctx)
		if errors.As(err, &held) {
			// Nothing was erased: the operator says why and what to do.
			data[reportLegalHolds] = strconv.FormatInt(held.Active, 10)
		} else {
			b, merr := json.Marshal(results)
			if merr != nil {
				return merr
			}
			data[reportStores] = string(b)
		}
		if err == nil {
			data[reportVerified] = "true"
		}
		runErr = err
	}
	data[reportRanAt] = time.Now().UTC().Format(time.RFC3339)
	if err := writeReport(w.namespace, *report, data); err != nil {
		return err
	}
	if held != nil {
		return refusal{held}
	}
	return erasure.Scrub(runErr)
}

// writeReport replaces the data of the worker's report ConfigMap.
func writeReport(namespace, name string, data map[string]string) error {
	c, err := kubeClient()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cm := &corev1.ConfigMap{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, cm); err != nil {
		return fmt.Errorf("reading the report ConfigMap: %w", err)
	}
	patch := client.MergeFrom(cm.DeepCopy())
	cm.Data = data
	return c.Patch(ctx, cm, patch)
}
