package localnode

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/operator"
)

// Node is the stand-in kubelet. Fill the fields, then call Start.
type Node struct {
	// Config is an admin config for the local control plane. Worker processes
	// get a kubeconfig that impersonates their Job's ServiceAccount, so RBAC
	// applies to them as in a cluster.
	Config *rest.Config
	// Binary is the operator binary that runs a Job's container: the
	// container's command[0] is replaced by it and the rest are its arguments.
	Binary string
	// Root holds the persistent volume claims' folders and the pods' files.
	Root string
	// ExtraEnv is added to every worker's environment (before the Job's own).
	ExtraEnv []string
	// Output receives the workers' stdout and stderr.
	Output io.Writer
	// RetryDelay is the pause before a failed Job pod is run again.
	RetryDelay time.Duration

	ctx   context.Context
	jobs  *jobReconciler
	procs map[types.UID]*exec.Cmd

	holdMu sync.Mutex
	held   map[string]bool
}

// Hold stops the node from starting anything in namespace, as a node whose
// pods have not come up yet; Release lets it go on.
func (n *Node) Hold(namespace string) {
	n.holdMu.Lock()
	defer n.holdMu.Unlock()
	if n.held == nil {
		n.held = map[string]bool{}
	}
	n.held[namespace] = true
}

// Release undoes Hold; the node acts on the namespace at its next event.
func (n *Node) Release(namespace string) {
	n.holdMu.Lock()
	defer n.holdMu.Unlock()
	delete(n.held, namespace)
}

func (n *Node) isHeld(namespace string) bool {
	n.holdMu.Lock()
	defer n.holdMu.Unlock()
	return n.held[namespace]
}

// ClaimDir is the local folder that stands for a PersistentVolumeClaim.
func (n *Node) ClaimDir(namespace, claim string) string {
	return filepath.Join(n.Root, "volumes", namespace, claim)
}

// Kill kills the running process of a Job, as if its pod died. It reports
// whether a process was running.
func (n *Node) Kill(job *batchv1.Job) bool { return n.jobs.kill(job.UID) }

// Running reports whether a Job's process is running now.
func (n *Node) Running(job *batchv1.Job) bool {
	n.jobs.mu.Lock()
	defer n.jobs.mu.Unlock()
	_, ok := n.procs[job.UID]
	return ok
}

// Start runs the node until ctx is done. It returns once its caches synced.
func (n *Node) Start(ctx context.Context) error {
	if n.Output == nil {
		n.Output = io.Discard
	}
	if n.RetryDelay == 0 {
		n.RetryDelay = time.Second
	}
	if err := os.MkdirAll(n.Root, 0o700); err != nil {
		return err
	}
	n.ctx = ctx
	n.procs = map[types.UID]*exec.Cmd{}
	owned := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue})}
	mgr, err := ctrl.NewManager(rest.CopyConfig(n.Config), ctrl.Options{
		Scheme:  operator.Scheme(),
		Metrics: metricsserver.Options{BindAddress: "0"},
		// A process may run one node after another (the Tenant benchmark
		// does); their controllers share names.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&appsv1.Deployment{}:  owned,
			&appsv1.StatefulSet{}: owned,
			&batchv1.Job{}:        owned,
		}},
	})
	if err != nil {
		return err
	}
	log := ctrl.Log.WithName("localnode")
	n.jobs = &jobReconciler{Client: mgr.GetClient(), reader: mgr.GetAPIReader(), node: n, log: log, running: map[types.UID]context.CancelFunc{}}
	if err := ctrl.NewControllerManagedBy(mgr).For(&appsv1.Deployment{}).Named("localnode-deployments").
		Complete(&deploymentReconciler{Client: mgr.GetClient(), node: n}); err != nil {
		return err
	}
	if err := ctrl.NewControllerManagedBy(mgr).For(&appsv1.StatefulSet{}).Named("localnode-statefulsets").
		Complete(&statefulSetReconciler{Client: mgr.GetClient(), node: n}); err != nil {
		return err
	}
	if err := ctrl.NewControllerManagedBy(mgr).For(&batchv1.Job{}).Named("localnode-jobs").Complete(n.jobs); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- mgr.Start(ctx) }()
	syncCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if !mgr.GetCache().WaitForCacheSync(syncCtx) {
		select {
		case err := <-errc:
			return err
		default:
			return fmt.Errorf("local node caches did not sync")
		}
	}
	return nil
}

// kubeconfigFor writes a kubeconfig that acts as the ServiceAccount.
func (n *Node) kubeconfigFor(namespace, serviceAccount, dir string) (string, error) {
	c := n.Config
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CAData, CertificateAuthority: c.CAFile}
	cfg.AuthInfos["sa"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: c.CertData, ClientKeyData: c.KeyData,
		ClientCertificate: c.CertFile, ClientKey: c.KeyFile, Token: c.BearerToken,
		Impersonate:       fmt.Sprintf("system:serviceaccount:%s:%s", namespace, serviceAccount),
		ImpersonateGroups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "sa", Namespace: namespace}
	cfg.CurrentContext = "local"
	path := filepath.Join(dir, "kubeconfig")
	return path, clientcmd.WriteToFile(*cfg, path)
}
