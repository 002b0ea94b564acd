// Command localrun is `make run`: it brings up a local control plane (the
// kube-apiserver and etcd that `make envtest` built), installs the CRDs, starts
// the operator against it with a local stand-in node for its workloads and
// worker Jobs, applies config/samples and shows the objects reaching their end
// states. Ctrl-C stops everything.
//
// With USE_EXISTING_CLUSTER=true it uses the cluster of the current kubeconfig
// instead: it installs the CRDs there and runs the operator, and starts no
// local node (the cluster's own kubelets run the workloads).
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/inboxchat/inboxchat-operator/internal/localnode"
	"github.com/inboxchat/inboxchat-operator/internal/operator"
	"github.com/inboxchat/inboxchat-operator/internal/schema"
	"github.com/inboxchat/inboxchat-operator/internal/testenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "make run:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := testenv.RepoRoot()
	if err != nil {
		return err
	}
	runDir := filepath.Join(root, ".run")
	if err := os.MkdirAll(runDir, 0o700); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(runDir, "operator.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	ctrl.SetLogger(zap.New(zap.WriteTo(logFile)))

	existing := os.Getenv("USE_EXISTING_CLUSTER") == "true"
	env, err := testenv.Environment()
	if err != nil && !existing {
		return err
	}
	if existing {
		env = &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join(root, "config", "crd", "bases")}}
	}
	env.UseExistingCluster = &existing
	fmt.Println("» starting the control plane and installing the CRDs ...")
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	defer func() {
		fmt.Println("» stopping")
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
		}
	}()

	kubeconfig := os.Getenv("KUBECONFIG")
	if !existing {
		admin, err := env.AddUser(envtest.User{Name: "make-run-admin", Groups: []string{"system:masters"}}, nil)
		if err != nil {
			return err
		}
		data, err := admin.KubeConfig()
		if err != nil {
			return err
		}
		kubeconfig = filepath.Join(runDir, "kubeconfig")
		if err := os.WriteFile(kubeconfig, data, 0o600); err != nil {
			return err
		}
	}

	mgr, err := operator.NewManager(cfg, operator.Options{MetricsAddr: "0", ProbeAddr: "0", OperatorNamespace: "inboxchat-system"})
	if err != nil {
		return err
	}
	mgrErr := make(chan error, 1)
	go func() { mgrErr <- mgr.Start(ctx) }()

	if !existing {
		fmt.Println("» building the operator binary for the local node's worker Jobs ...")
		bin := filepath.Join(root, "bin", "inboxchat-operator")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd")
		build.Dir, build.Stdout, build.Stderr = root, os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building the operator: %w", err)
		}
		node := &localnode.Node{Config: cfg, Binary: bin, Root: filepath.Join(runDir, "node"), Output: logFile}
		if err := node.Start(ctx); err != nil {
			return fmt.Errorf("starting the local node: %w", err)
		}
	}

	if !existing {
		fmt.Println("» preparing the demo tenant's database on the local PostgreSQL ...")
		if err := prepareDemoDatabase(ctx); err != nil {
			return err
		}
	}
	c, err := newApplier(cfg)
	if err != nil {
		return err
	}
	// The operator keeps its CA and offboarding receipts in its own
	// namespace, which an installation creates.
	if err := c.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "inboxchat-system"}}); client.IgnoreAlreadyExists(err) != nil {
		return err
	}
	fmt.Println("» applying config/samples ...")
	if err := c.applySamples(ctx, filepath.Join(root, "config", "samples")); err != nil {
		return err
	}

	kubectl := "kubectl"
	if assets := os.Getenv("KUBEBUILDER_ASSETS"); assets != "" && !existing {
		kubectl = filepath.Join(assets, "kubectl")
	}
	fmt.Printf(`
The operator is running (its log: %s).
  kubeconfig: %s
  try:        KUBECONFIG=%s %s get inboxchat
Press Ctrl-C to stop everything.

`, logFile.Name(), kubeconfig, kubeconfig, kubectl)

	ticker := time.NewTicker(2 * time.Second)
	defer ticker.Stop()
	lastTable := ""
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-mgrErr:
			return fmt.Errorf("the operator stopped: %w", err)
		case <-ticker.C:
			table, done, err := c.table(ctx)
			if err != nil {
				fmt.Fprintln(os.Stderr, "listing objects:", err)
				continue
			}
			if table != lastTable {
				fmt.Print(table)
				lastTable = table
				if done {
					fmt.Println("» every sample object reached its end state; Ctrl-C to stop")
				} else {
					fmt.Println("» waiting for the samples to reach their end states ...")
				}
			}
		}
	}
}

// demoDatabase is the local database of the sample Tenant's external store.
const demoDatabase = "inboxchat_demo"

// prepareDemoDatabase creates the sample tenant's database on the local
// PostgreSQL (trust auth) when missing and applies the reference schema.
func prepareDemoDatabase(ctx context.Context) error {
	admin, err := schema.Open(schema.Postgres, "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	if err != nil {
		return err
	}
	defer admin.Close()
	var exists bool
	if err := admin.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", demoDatabase).Scan(&exists); err != nil {
		return fmt.Errorf("PostgreSQL is not reachable on 127.0.0.1:5432 (start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start): %w", err)
	}
	if !exists {
		if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+demoDatabase); err != nil {
			return err
		}
	}
	db, err := schema.Open(schema.Postgres, "postgres://postgres@127.0.0.1:5432/"+demoDatabase+"?sslmode=disable")
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = schema.Apply(ctx, db, schema.Postgres)
	return err
}
