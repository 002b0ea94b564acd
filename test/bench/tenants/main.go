// Command tenants is the Tenant benchmark (`make bench-tenants`): it creates
// many Tenants at once against the local control plane and measures the
// seconds until all are Ready, the operator's peak RSS, and the operator's
// API writes per Tenant created and per no-op resync. In the same run it
// measures the control plane's raw write floor: the seconds to create the
// same number of plain objects with unthrottled concurrent clients; and its
// replay floor: the seconds to create, with the same clients, copies of the
// very objects the operator made for one Tenant, kind by kind, with what each
// kind costs the API server.
//
// The operator runs as its own process (bin/inboxchat-operator), so its RSS is
// its own; the local stand-in node marks the workloads available.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/operator"
	"github.com/inboxchat/inboxchat-operator/internal/testenv"
)

var (
	pprofAddr = flag.String("operator-pprof", "", "serve the operator's pprof on this address")
	breakdown = flag.Bool("requests", false, "print the API server's requests by verb and resource once all Tenants are Ready")
	memLimit  = flag.String("operator-gomemlimit", "80MiB", "the operator's GOMEMLIMIT, as the manager Deployment sets it")
	apiProf   = flag.String("apiserver-cpu-profile", "", "write CPU profiles of the API server, each over the first 30 s of the replay floor and of creating Tenants, to <this>-replay.prof and <this>-tenants.prof")
)

func main() {
	n := flag.Int("tenants", 1000, "Tenants to create")
	perTenant := flag.Int("objects-per-tenant", 34, "plain objects per tenant for the write floor: as many as the operator makes per Tenant")
	workers := flag.Int("clients", 64, "concurrent clients for the write floor and for creating Tenants")
	qps := flag.Int("operator-qps", 2000, "the operator's --kube-api-qps")
	concurrency := flag.Int("operator-concurrency", 16, "the operator's --max-concurrent-reconciles")
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	if err := run(*n, *perTenant, *workers, *qps, *concurrency); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(n, perTenant, workers, qps, concurrency int) error {
	// Ctrl-C or a timeout's SIGTERM still stops the control plane and the
	// operator (the deferred Stop and Kill below).
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	root, err := testenv.RepoRoot()
	if err != nil {
		return err
	}
	env, cfg, err := testenv.Start()
	if err != nil {
		return err
	}
	defer env.Stop()
	admin, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		return err
	}
	// Every client authenticates as in a cluster, with a ServiceAccount
	// token (which the API server caches), not with the envtest admin's
	// client certificate (verified on every request): the creators, the
	// stand-in node and the Tenant watch as a cluster-admin ServiceAccount,
	// the operator as its own with the ClusterRole it ships with.
	cfg, err = testenv.ServiceAccountConfig(ctx, admin, cfg, "kube-system", "bench-admin", "cluster-admin")
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = -1, 0 // unthrottled: the bench measures the control plane
	// As the operator by default: no gzip on watch events and responses,
	// which would cost the API server CPU for local connections.
	cfg.DisableCompression = true
	c, err := client.New(cfg, client.Options{Scheme: operator.Scheme()})
	if err != nil {
		return err
	}
	for _, ns := range []string{"inboxchat-system", "floor"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}

	bin := filepath.Join(root, "bin", "inboxchat-operator")
	// Built as the Dockerfile builds the shipped image.
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./cmd")
	build.Dir, build.Stderr = root, os.Stderr
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if err := build.Run(); err != nil {
		return err
	}
	kubeconfig, err := writeKubeconfig(ctx, admin, cfg)
	if err != nil {
		return err
	}
	metricsAddr, err := freeAddr()
	if err != nil {
		return err
	}
	launch := func(ctx context.Context, pprof string) (*operatorRun, error) {
		return startOperator(ctx, cfg, bin, kubeconfig, metricsAddr, pprof, qps, concurrency)
	}

	// One Tenant provisioned before anything is measured: the objects it
	// ends up with are what the replay floor below creates directly.
	tmpl, err := provisionTemplate(ctx, c, launch)
	if err != nil {
		return err
	}

	fmt.Printf("write floor: creating %d ConfigMaps with %d concurrent clients ...\n", n*perTenant, workers)
	floorCPU := processCPU()
	floor, err := parallel(n*perTenant, workers, func(i int) error {
		return c.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("floor-%d", i), Namespace: "floor"},
			Data:       map[string]string{"k": strings.Repeat("x", 512)},
		})
	})
	if err != nil {
		return err
	}
	fmt.Printf("write floor: %.1f s (%.0f writes/s, %.2f ms API server CPU/write)\n", floor.Seconds(), float64(n*perTenant)/floor.Seconds(),
		1000*(processCPU()["kube-apiserver"]-floorCPU["kube-apiserver"])/float64(n*perTenant))

	fmt.Printf("replay floor: creating %d copies of a provisioned Tenant's %d objects (%d status writes each) with %d concurrent clients ...\n",
		n, len(tmpl.objects), tmpl.statusWrites(), workers)
	replayProfiled := make(chan error, 1)
	if *apiProf != "" {
		go func() { replayProfiled <- saveAPIServerProfile(ctx, cfg, *apiProf+"-replay.prof") }()
	} else {
		replayProfiled <- nil
	}
	replayed, costs, err := replay(ctx, c, tmpl, n, workers)
	if err != nil {
		return err
	}
	if err := <-replayProfiled; err != nil {
		return err
	}
	printKindCosts(costs)
	fmt.Printf("replay floor: %.1f s (%.2f x the write floor)\n", replayed.Seconds(), replayed.Seconds()/floor.Seconds())

	opRun, err := launch(ctx, *pprofAddr)
	if err != nil {
		return err
	}
	defer opRun.stop()
	op := opRun.cmd

	// Tenants are counted from a watch, not by listing them all every second:
	// the observer should cost the API server little.
	tenants, err := cache.New(cfg, cache.Options{Scheme: operator.Scheme(), ByObject: map[client.Object]cache.ByObject{&v1alpha1.Tenant{}: {}}})
	if err != nil {
		return err
	}
	if _, err := tenants.GetInformer(ctx, &v1alpha1.Tenant{}); err != nil {
		return err
	}
	go func() { _ = tenants.Start(ctx) }()
	if !tenants.WaitForCacheSync(ctx) {
		return fmt.Errorf("the Tenant watch did not sync")
	}

	fmt.Printf("tenants: creating %d Tenants ...\n", n)
	profiled := make(chan error, 1)
	if *apiProf != "" {
		go func() { profiled <- saveAPIServerProfile(ctx, cfg, *apiProf+"-tenants.prof") }()
	} else {
		profiled <- nil
	}
	cpuBefore := processCPU()
	start := time.Now()
	if _, err := parallel(n, workers, func(i int) error {
		return c.Create(ctx, benchTenant(i))
	}); err != nil {
		return err
	}
	var ready int
	for {
		ready, err = countReady(ctx, tenants)
		if err != nil {
			return err
		}
		if ready == n {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(start) > 15*time.Minute {
			return fmt.Errorf("only %d of %d Tenants Ready after 15 minutes", ready, n)
		}
		time.Sleep(time.Second)
	}
	allReady := time.Since(start)
	cpuAfter := processCPU()
	if err := <-profiled; err != nil {
		return err
	}
	if *pprofAddr != "" {
		if err := saveHeapProfile(*pprofAddr, filepath.Join(os.TempDir(), "inboxchat-bench-heap.prof")); err != nil {
			return err
		}
	}
	writesCreate, err := operatorWrites(metricsAddr)
	if err != nil {
		return err
	}
	if *breakdown {
		if err := printRequestBreakdown(ctx, cfg); err != nil {
			return err
		}
	}
	fmt.Printf("tenants: all %d Ready in %.1f s (%.2f x the write floor, %.2f x the replay floor)\n", n, allReady.Seconds(),
		allReady.Seconds()/floor.Seconds(), allReady.Seconds()/replayed.Seconds())
	fmt.Printf("tenants: %.1f operator API writes per Tenant created\n", float64(writesCreate)/float64(n))
	fmt.Printf("tenants: CPU seconds until all Ready:")
	for _, name := range []string{"kube-apiserver", "etcd", "inboxchat-operator", "bench"} {
		fmt.Printf(" %s %.1f", name, cpuAfter[name]-cpuBefore[name])
	}
	fmt.Println()

	// Settle, then make every Tenant reconcile again with nothing to change.
	time.Sleep(3 * time.Second)
	settled, err := operatorWrites(metricsAddr)
	if err != nil {
		return err
	}
	if _, err := parallel(n, workers, func(i int) error {
		t := &v1alpha1.Tenant{}
		if err := c.Get(ctx, client.ObjectKey{Name: tenantName(i)}, t); err != nil {
			return err
		}
		patch := client.MergeFrom(t.DeepCopy())
		t.Annotations = map[string]string{"bench.inboxchat.io/resync": time.Now().String()}
		return c.Patch(ctx, t, patch)
	}); err != nil {
		return err
	}
	time.Sleep(10 * time.Second)
	after, err := operatorWrites(metricsAddr)
	if err != nil {
		return err
	}
	fmt.Printf("tenants: %.3f operator API writes per Tenant per no-op resync (%d in all)\n", float64(after-settled)/float64(n), after-settled)
	rss, err := peakRSS(op.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Printf("operator: peak RSS %.1f MiB (now: %s)\n", float64(rss)/1024, rssParts(op.Process.Pid))
	fmt.Printf("RESULT tenants=%d floor_s=%.1f replay_s=%.1f ready_s=%.1f ratio=%.2f replay_ratio=%.2f writes_per_tenant=%.1f resync_writes_per_tenant=%.3f peak_rss_mib=%.1f\n",
		n, floor.Seconds(), replayed.Seconds(), allReady.Seconds(), allReady.Seconds()/floor.Seconds(), allReady.Seconds()/replayed.Seconds(), float64(writesCreate)/float64(n),
		float64(after-settled)/float64(n), float64(rss)/1024)
	return nil
}

func tenantName(i int) string { return fmt.Sprintf("bench-%04d", i) }

func benchTenant(i int) *v1alpha1.Tenant {
	name := tenantName(i)
	return &v1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.TenantSpec{
			App:    v1alpha1.AppSpec{Image: "ghcr.io/inboxchat/app:1", Host: name + ".chat.example"},
			Stores: v1alpha1.StoresSpec{Database: v1alpha1.DatabaseStore{Managed: &v1alpha1.ManagedDatabase{Engine: v1alpha1.DatabaseEnginePostgres}}},
		},
	}
}

// parallel runs f(0..n-1) on workers goroutines and returns the wall time.
func parallel(n, workers int, f func(int) error) (time.Duration, error) {
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, err
	}
	return time.Since(start), nil
}

func countReady(ctx context.Context, c client.Reader) (int, error) {
	list := &v1alpha1.TenantList{}
	if err := c.List(ctx, list); err != nil {
		return 0, err
	}
	return countReadyOf(list.Items), nil
}

func countReadyOf(tenants []v1alpha1.Tenant) int {
	ready := 0
	for _, t := range tenants {
		if meta.IsStatusConditionTrue(t.Status.Conditions, v1alpha1.ConditionReady) && t.Status.ObservedGeneration == t.Generation {
			ready++
		}
	}
	return ready
}

// operatorWrites sums the operator's client-go write requests from its
// rest_client_requests_total metric.
func operatorWrites(addr string) (int64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var total float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "rest_client_requests_total{") {
			continue
		}
		if !(strings.Contains(line, `method="POST"`) || strings.Contains(line, `method="PUT"`) ||
			strings.Contains(line, `method="PATCH"`) || strings.Contains(line, `method="DELETE"`)) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			total += v
		}
	}
	return int64(total), sc.Err()
}

// printRequestBreakdown prints the API server's request counts by verb and
// resource, highest first: where the control plane's work went.
func printRequestBreakdown(ctx context.Context, cfg *rest.Config) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	raw, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return err
	}
	label := func(line, name string) string {
		i := strings.Index(line, name+`="`)
		if i < 0 {
			return ""
		}
		rest := line[i+len(name)+2:]
		return rest[:strings.IndexByte(rest, '"')]
	}
	counts := map[string]float64{}
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			continue
		}
		key := label(line, "verb") + " " + label(line, "resource")
		if sub := label(line, "subresource"); sub != "" {
			key += "/" + sub
		}
		counts[key] += v
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return counts[keys[i]] > counts[keys[j]] })
	fmt.Println("api server requests by verb and resource (whole run, floor included):")
	for _, k := range keys {
		fmt.Printf("  %8.0f  %s\n", counts[k], k)
	}
	return nil
}

// processCPU sums the user and system CPU seconds of this process (the
// Tenant creators, the watch and the stand-in node: "bench") and of its
// children by program name (the API server, etcd, the operator).
func processCPU() map[string]float64 {
	cpu := map[string]float64{}
	read := func(pid string) (name string, ppid int, secs float64, ok bool) {
		data, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return "", 0, 0, false
		}
		// pid (comm) state ppid ... utime(14) stime(15)
		s := string(data)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			return "", 0, 0, false
		}
		f := strings.Fields(s[closing+1:])
		if len(f) < 13 {
			return "", 0, 0, false
		}
		ppid, _ = strconv.Atoi(f[1])
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		return s[open+1 : closing], ppid, (ut + st) / 100, true // USER_HZ is 100 on Linux
	}
	if _, _, secs, ok := read("self"); ok {
		cpu["bench"] = secs
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		name, ppid, secs, ok := read(e.Name())
		if ok && ppid == os.Getpid() {
			if strings.HasPrefix("inboxchat-operator", name) { // comm is cut at 15 bytes
				name = "inboxchat-operator"
			}
			cpu[name] += secs
		}
	}
	return cpu
}

// rssParts reads the current resident memory by kind: anonymous (the Go
// heap, stacks, runtime) and file-backed (the binary's pages in use).
func rssParts(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err.Error()
	}
	var parts []string
	for _, line := range strings.Split(string(data), "\n") {
		for _, k := range []string{"RssAnon:", "RssFile:"} {
			if strings.HasPrefix(line, k) {
				kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
				parts = append(parts, fmt.Sprintf("%s %.1f MiB", strings.TrimSuffix(k, ":"), float64(kb)/1024))
			}
		}
	}
	return strings.Join(parts, ", ")
}

// peakRSS reads VmHWM (KiB) of a process.
func peakRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			return strconv.ParseInt(strings.Fields(line)[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmHWM for pid %d", pid)
}

// saveHeapProfile fetches the operator's heap profile (after a GC).
func saveHeapProfile(addr, path string) error {
	resp, err := http.Get("http://" + addr + "/debug/pprof/heap?gc=1")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	fmt.Printf("operator: heap profile in %s\n", path)
	return err
}

// saveAPIServerProfile takes a 30-second CPU profile of the API server.
func saveAPIServerProfile(ctx context.Context, cfg *rest.Config, path string) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	raw, err := cs.RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", "30").Timeout(time.Minute).DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("profiling the API server: %w", err)
	}
	fmt.Printf("api server: CPU profile in %s\n", path)
	return os.WriteFile(path, raw, 0o600)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// writeKubeconfig gives the operator a kubeconfig as ServiceAccount
// inboxchat-system/inboxchat-operator bound to the ClusterRole it ships with
// (config/rbac/role.yaml): the benchmark also shows that RBAC suffices at
// scale.
func writeKubeconfig(ctx context.Context, c client.Client, cfg *rest.Config) (string, error) {
	sa, err := testenv.OperatorConfig(ctx, c, cfg, "inboxchat-system")
	if err != nil {
		return "", err
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["bench"] = &clientcmdapi.Cluster{Server: sa.Host, CertificateAuthorityData: sa.CAData}
	kc.AuthInfos["operator"] = &clientcmdapi.AuthInfo{Token: sa.BearerToken}
	kc.Contexts["bench"] = &clientcmdapi.Context{Cluster: "bench", AuthInfo: "operator"}
	kc.CurrentContext = "bench"
	f := filepath.Join(os.TempDir(), "inboxchat-bench-kubeconfig")
	return f, clientcmd.WriteToFile(*kc, f)
}
