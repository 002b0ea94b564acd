package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/datamap"
	"github.com/inboxchat/inboxchat-operator/internal/erasure"
)

func init() { subcommands["erase"] = runErase }

// runErase is the erase worker: it resolves the subject, exports when asked,
// erases across every store of the data map and re-queries them, recording
// each step in the erasure ledger so a killed run resumes. The results go to
// the ErasureRequest's status; no personal data does.
func runErase(args []string) error {
	var w workerFlags
	fs := flag.NewFlagSet("erase", flag.ContinueOnError)
	if err := w.parse(fs, args); err != nil {
		return err
	}
	ctx := ctrl.SetupSignalHandler()
	c, err := kubeClient()
	if err != nil {
		return err
	}
	er := &v1alpha1.ErasureRequest{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: w.namespace, Name: w.name}, er); err != nil {
		return fmt.Errorf("reading ErasureRequest %s: %w", w.name, err)
	}
	patcher := newStatusPatcher(c, er, progressInterval)
	fail := func(msg string) error {
		return patcher.update(ctx, true, func(e *v1alpha1.ErasureRequest) {
			e.Status.Phase = v1alpha1.ErasureFailed
			e.Status.Message = msg
		})
	}
	subject, err := readSubject(ctx, c, er)
	if err != nil {
		return fail(err.Error())
	}
	m, err := loadDataMap()
	if err != nil {
		return fail(err.Error())
	}
	stores, closeStores, err := w.erasureStores(ctx)
	if err != nil {
		return err
	}
	defer closeStores()

	phase := func(p v1alpha1.ErasurePhase) {
		_ = patcher.update(ctx, true, func(e *v1alpha1.ErasureRequest) { e.Status.Phase = p })
	}
	engine, err := erasure.New(stores, m, erasure.Options{AfterStep: func(step string) error {
		switch {
		case step == erasure.StepResolve && er.Spec.Mode != v1alpha1.ErasureModeErase:
			phase(v1alpha1.ErasureExporting)
		case step == erasure.StepResolve, step == erasure.StepExport && er.Spec.Mode == v1alpha1.ErasureModeExportThenErase:
			phase(v1alpha1.ErasureErasing)
		case step == erasure.StepVerify:
			phase(v1alpha1.ErasureVerifying)
		}
		return nil
	}})
	if err != nil {
		return fail("the data map cannot drive an erasure: " + erasure.Scrub(err).Error())
	}
	res, runErr := engine.Run(ctx, erasure.Request{UID: string(er.UID), Subject: subject, Mode: erasure.Mode(er.Spec.Mode), DryRun: er.Spec.DryRun})
	finalCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	werr := patcher.update(finalCtx, true, func(e *v1alpha1.ErasureRequest) {
		e.Status.SubjectFingerprint = res.Fingerprint
		e.Status.Stores = nil
		for _, s := range res.Stores {
			e.Status.Stores = append(e.Status.Stores, v1alpha1.StoreErasure{Name: s.Name, Erased: s.Erased, Retained: s.Retained, RetainedReason: s.RetainedReason, Remaining: s.Remaining})
		}
		if x := res.Export; x != nil {
			exp := metav1.NewTime(x.ExpiresAt)
			e.Status.Export = &v1alpha1.ExportStatus{Location: x.Location, SHA256: x.SHA256, ExpiresAt: &exp}
		}
		if runErr == nil {
			e.Status.Phase = v1alpha1.ErasureVerifying
		} else if errors.Is(runErr, erasure.ErrNotErased) {
			e.Status.Message = "the verifying re-query still found records: " + remainingStores(res)
		}
	})
	if runErr != nil {
		// The Job retries; a verification failure or a store error shows in
		// the message, without values.
		return errors.Join(erasure.Scrub(runErr), werr)
	}
	return werr
}

func remainingStores(res erasure.Result) string {
	var parts []string
	for _, s := range res.Stores {
		if s.Remaining > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d", s.Name, s.Remaining))
		}
	}
	return strings.Join(parts, ", ")
}

// readSubject takes the identifier from the request or its subject Secret.
func readSubject(ctx context.Context, c client.Client, er *v1alpha1.ErasureRequest) (erasure.Subject, error) {
	s := erasure.Subject{Kind: datamap.SubjectKind(er.Spec.Subject.Kind), ID: er.Spec.Subject.ID}
	ref := er.Spec.Subject.SecretRef
	if ref == nil {
		return s, nil
	}
	secret := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: er.Namespace, Name: ref.Name}, secret); err != nil {
		return s, fmt.Errorf("the subject Secret %s cannot be read: %v", ref.Name, err)
	}
	switch {
	case len(secret.Data["id"]) > 0:
		s.ID = strings.TrimSpace(string(secret.Data["id"]))
	case len(secret.Data["email"]) > 0:
		s.Email = strings.TrimSpace(string(secret.Data["email"]))
	case len(secret.Data["psid"]) > 0:
		s.PSID = strings.TrimSpace(string(secret.Data["psid"]))
	default:
		return s, fmt.Errorf("the subject Secret %s has none of the keys email, psid, id", ref.Name)
	}
	return s, nil
}

// loadDataMap reads the tenant's data map (INBOXCHAT_DATA_MAP, from the
// ConfigMap the Tenant names) or the built-in map of the reference schema.
func loadDataMap() (*datamap.Map, error) {
	if y := os.Getenv("INBOXCHAT_DATA_MAP"); y != "" {
		m, err := datamap.Load([]byte(y))
		if err != nil {
			return nil, fmt.Errorf("the tenant's data map is invalid: %w", err)
		}
		return m, nil
	}
	return datamap.Default(), nil
}

// erasureStores opens every store the erase worker needs.
func (w *workerFlags) erasureStores(ctx context.Context) (erasure.Stores, func(), error) {
	kr, err := w.keyring()
	if err != nil {
		return erasure.Stores{}, nil, err
	}
	bidx, err := w.appKey("blind-index-key")
	if err != nil {
		return erasure.Stores{}, nil, err
	}
	securityLogs, err := durationEnv("INBOXCHAT_RETENTION_SECURITY_LOGS")
	if err != nil {
		return erasure.Stores{}, nil, err
	}
	exports, err := durationEnv("INBOXCHAT_RETENTION_EXPORTS")
	if err != nil {
		return erasure.Stores{}, nil, err
	}
	db, engine, err := w.openDatabase(ctx)
	if err != nil {
		return erasure.Stores{}, nil, err
	}
	rdb, err := w.openRedis()
	if err != nil {
		db.Close()
		return erasure.Stores{}, nil, err
	}
	return erasure.Stores{DB: db, Engine: engine, Redis: rdb, FilesRoot: w.filesDir, Keyring: kr, BlindIndexKey: bidx,
			Retention: erasure.Retention{SecurityLogs: securityLogs, Exports: exports}},
		func() { db.Close(); rdb.Close() }, nil
}
