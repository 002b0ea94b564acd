// Command localrun is `make run`: it shows the whole product on one machine.
// It brings up a local control plane (the kube-apiserver and etcd that `make
// envtest` built), installs the CRDs, starts the operator against it with a
// local stand-in node for its workloads and worker Jobs (the real operator
// binary, built once into <run dir>/bin), a Messenger emulator and an SMTP
// sink on loopback, resets the sample Tenant's database on the local
// PostgreSQL, applies config/samples, seeds the tenant's app data once the
// operator generated its keys, and prints `kubectl get inboxchat -A` each time
// a sample object changes, with a progress line while waiting, until every
// sample object reached its end state. Ctrl-C stops everything.
//
// Environment:
//
//	RUN_EXIT_WHEN_DONE=true  exit 0 once every sample object reached its end
//	                         state, 1 (naming what did not) when one failed or
//	                         after RUN_TIMEOUT
//	RUN_TIMEOUT=5m           how long RUN_EXIT_WHEN_DONE waits
//	RUN_DIR=<dir>            logs, kubeconfig, binary, volumes (default .run)
//	RUN_DATABASE_DSN=<dsn>   use this PostgreSQL database (reset at start)
//	                         instead of the sample Secret's inboxchat_demo
//	RUN_REDIS_URL=<url>      use this Redis database instead of the sample's
//
// With USE_EXISTING_CLUSTER=true it uses the cluster of the current kubeconfig
// instead: it installs the CRDs there, runs the operator and applies the
// samples as they are; it starts no local node, emulator or SMTP sink and
// seeds nothing (the cluster's own kubelets run the workloads).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/inboxchat/inboxchat-operator/internal/localnode"
	"github.com/inboxchat/inboxchat-operator/internal/operator"
	"github.com/inboxchat/inboxchat-operator/internal/testenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "make run:", err)
		os.Exit(1)
	}
}

// settings are read from the environment (see the package comment).
type settings struct {
	root, runDir          string
	existing              bool
	exitWhenDone          bool
	timeout               time.Duration
	databaseDSN, redisURL string
}

func readSettings() (settings, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return settings{}, err
	}
	s := settings{
		root:        root,
		runDir:      filepath.Join(root, ".run"),
		existing:    os.Getenv("USE_EXISTING_CLUSTER") == "true",
		timeout:     5 * time.Minute,
		databaseDSN: os.Getenv("RUN_DATABASE_DSN"),
		redisURL:    os.Getenv("RUN_REDIS_URL"),
	}
	if d := os.Getenv("RUN_DIR"); d != "" {
		if s.runDir, err = filepath.Abs(d); err != nil {
			return settings{}, err
		}
	}
	if v := os.Getenv("RUN_EXIT_WHEN_DONE"); v != "" {
		if s.exitWhenDone, err = strconv.ParseBool(v); err != nil {
			return settings{}, fmt.Errorf("RUN_EXIT_WHEN_DONE=%q: %w", v, err)
		}
	}
	if v := os.Getenv("RUN_TIMEOUT"); v != "" {
		if s.timeout, err = time.ParseDuration(v); err != nil {
			return settings{}, fmt.Errorf("RUN_TIMEOUT=%q: %w", v, err)
		}
	}
	return s, nil
}

// stack runs cleanups in reverse order, once.
type stack []func()

func (s *stack) push(f func()) { *s = append(*s, f) }
func (s *stack) run() {
	for i := len(*s) - 1; i >= 0; i-- {
		(*s)[i]()
	}
	*s = nil
}

func run() (err error) {
	started := time.Now()
	set, err := readSettings()
	if err != nil {
		return err
	}
	sigCtx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	go func() {
		// A second Ctrl-C ends the process at once.
		<-sigCtx.Done()
		stopSignals()
	}()
	defer func() {
		if sigCtx.Err() != nil {
			err = nil // Ctrl-C: whatever was cut short is no error
		}
	}()
	// ctx ends on Ctrl-C or when run returns; everything started below
	// stops with it, and cleanup waits for each part to be gone.
	ctx, cancel := context.WithCancel(sigCtx)
	var cleanup stack
	defer func() {
		fmt.Println("» stopping ...")
		cleanup.run()
		fmt.Println("» stopped")
	}()
	cleanup.push(cancel)

	if err := os.MkdirAll(set.runDir, 0o700); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(set.runDir, "operator.log"))
	if err != nil {
		return err
	}
	cleanup.push(func() { _ = logFile.Close() })
	ctrl.SetLogger(zap.New(zap.WriteTo(logFile)))
	out := newScreen(os.Stdout)

	// The worker Jobs run the operator binary: build it while the control
	// plane starts.
	bin := filepath.Join(set.runDir, "bin", "inboxchat-operator")
	built := make(chan error, 1)
	if !set.existing {
		out.println("» building the operator binary for the local node's worker Jobs ...")
		buildDone := make(chan struct{})
		go func() {
			defer close(buildDone)
			build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd")
			build.Dir = set.root
			// Interrupted, go build stops its compilers and linker itself.
			build.Cancel = func() error { return build.Process.Signal(os.Interrupt) }
			build.WaitDelay = 10 * time.Second
			if b, err := build.CombinedOutput(); err != nil {
				built <- fmt.Errorf("building the operator: %w\n%s", err, b)
				return
			}
			built <- nil
		}()
		cleanup.push(func() {
			cancel()
			<-buildDone
		})
	}

	env, err := testenv.Environment()
	if err != nil && !set.existing {
		return err
	}
	if set.existing {
		env = &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join(set.root, "config", "crd", "bases")}}
	}
	env.UseExistingCluster = &set.existing
	out.println("» starting the control plane and installing the CRDs ...")
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	cleanup.push(func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
		}
	})

	kubeconfig := os.Getenv("KUBECONFIG")
	kubectl := "kubectl"
	if !set.existing {
		admin, err := env.AddUser(envtest.User{Name: "make-run-admin", Groups: []string{"system:masters"}}, nil)
		if err != nil {
			return err
		}
		data, err := admin.KubeConfig()
		if err != nil {
			return err
		}
		kubeconfig = filepath.Join(set.runDir, "kubeconfig")
		if err := os.WriteFile(kubeconfig, data, 0o600); err != nil {
			return err
		}
		if assets := os.Getenv("KUBEBUILDER_ASSETS"); assets != "" {
			kubectl = filepath.Join(assets, "kubectl")
		}
	}

	c, err := newApplier(cfg)
	if err != nil {
		return err
	}
	samples, err := loadSamples(filepath.Join(set.root, "config", "samples"))
	if err != nil {
		return err
	}

	var d *demo
	if !set.existing {
		out.println("» starting the Messenger emulator and the SMTP sink on loopback ...")
		if d, err = startDemo(samples, set); err != nil {
			return err
		}
		cleanup.push(d.close)
		out.println(fmt.Sprintf("   Messenger emulator: %s   SMTP sink: %s", d.graph.URL(), d.smtp.Addr()))
		for _, note := range d.patch(samples, time.Now()) {
			out.println("   " + note)
		}
	}

	// The operator keeps its CA and offboarding receipts in its own
	// namespace, which an installation creates.
	if err := c.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "inboxchat-system"}}); client.IgnoreAlreadyExists(err) != nil {
		return err
	}
	opCfg := cfg
	if !set.existing {
		// On the local control plane the manager runs as it does when
		// installed: as its ServiceAccount under the ClusterRole it ships
		// with. (On an existing cluster it uses the current kubeconfig.)
		if opCfg, err = testenv.OperatorConfig(ctx, c.c, cfg, "inboxchat-system"); err != nil {
			return err
		}
	}
	mgr, err := operator.NewManager(opCfg, operator.Options{MetricsAddr: "0", ProbeAddr: "0", OperatorNamespace: "inboxchat-system"})
	if err != nil {
		return err
	}
	mgrDone := &stopped{done: make(chan struct{})}
	go func() {
		mgrDone.err = mgr.Start(ctx)
		close(mgrDone.done)
	}()
	cleanup.push(func() {
		cancel()
		select {
		case <-mgrDone.done:
		case <-time.After(30 * time.Second):
			fmt.Fprintln(os.Stderr, "the operator did not stop within 30s")
		}
	})

	if !set.existing {
		select {
		case err := <-built:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return nil
		}
		node := &localnode.Node{Config: cfg, Binary: bin, Root: filepath.Join(set.runDir, "node"), Output: logFile}
		if err := node.Start(ctx); err != nil {
			return fmt.Errorf("starting the local node: %w", err)
		}
		d.node = node
		cleanup.push(func() {
			cancel()
			waitForWorkers(c, node)
		})

		out.println("» resetting the demo tenant's database on the local PostgreSQL (" + redactDSN(d.dsn) + ") and applying the reference schema ...")
		if err := resetDatabase(ctx, d.dsn); err != nil {
			return err
		}
	}

	out.println(fmt.Sprintf(`
The operator is running (its log and its workers': %s).
  kubeconfig: %s
  try:        KUBECONFIG=%s %s get inboxchat -A
Press Ctrl-C to stop everything.
`, logFile.Name(), kubeconfig, kubeconfig, kubectl))

	w := &watcher{c: c, out: out, kubectl: kubectl, kubeconfig: kubeconfig, started: started}
	if set.exitWhenDone {
		w.deadline = started.Add(set.timeout)
	}

	// First the Tenant (with its namespace and Secrets), then, once the
	// operator generated its keyring, the app data the other samples act
	// on, then the other samples.
	first, rest := samples.split()
	out.println("» applying config/samples: the Tenant first ...")
	if err := c.apply(ctx, out, first); err != nil {
		return err
	}
	if d != nil {
		w.expect(first)
		if err := w.until(ctx, mgrDone, "waiting", w.allDone); err != nil {
			return err
		}
		out.println("» seeding the demo tenant's app data, sealed with the keyring the operator generated ...")
		seeded, err := d.seed(ctx, c)
		if err != nil {
			return err
		}
		out.println("   " + seeded)
	}
	out.println("» applying the other samples ...")
	if err := c.apply(ctx, out, rest); err != nil {
		return err
	}
	w.expect(append(first, rest...))
	var failed *objectFailed
	switch err := w.until(ctx, mgrDone, "waiting", w.allDone); {
	case errors.As(err, &failed) && !set.exitWhenDone:
		out.println("» " + err.Error() + "\n  (see " + logFile.Name() + ")")
	case err != nil:
		return err
	default:
		out.println(fmt.Sprintf("» every sample object reached its end state in %s:", time.Since(started).Round(time.Second)))
		if err := w.summary(ctx, d); err != nil {
			return err
		}
		if set.exitWhenDone {
			return nil
		}
	}
	out.println("» still running, so that you can look around; Ctrl-C stops everything")
	w.deadline = time.Time{}
	if err := w.until(ctx, mgrDone, "running, Ctrl-C stops", func([]objState) (bool, error) { return false, nil }); err != nil {
		return err
	}
	return nil
}

// stopped is closed when a goroutine ended, with its error.
type stopped struct {
	done chan struct{}
	err  error
}

// waitForWorkers waits until the local node's worker processes, which got
// SIGTERM when the context ended, have exited.
func waitForWorkers(a *applier, node *localnode.Node) {
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		running, err := a.runningJobs(ctx, node)
		return err != nil || len(running) == 0, nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker processes still running after 20s")
	}
}
