package operator

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authnclient "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authzclient "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// The metrics endpoint lets in only a caller whose bearer token the API
// server authenticates (TokenReview) and who may get the URL path
// (SubjectAccessReview on the non-resource URL, which the metrics-reader
// ClusterRole grants for /metrics): what kube-rbac-proxy and
// controller-runtime's filters.WithAuthenticationAndAuthorization do. It is
// written here against client-go's typed clients because that filter links
// k8s.io/apiserver into the manager, which costs 16 MB of binary and 10 MiB
// of resident memory (measured with the tenants benchmark) for two API calls.
const (
	// metricsAllowTTL and metricsDenyTTL are how long a decision is reused,
	// as the API server's own delegating authorizer does.
	metricsAllowTTL = time.Minute
	metricsDenyTTL  = 10 * time.Second
	// metricsCacheMax bounds the decisions kept (scrapers are few).
	metricsCacheMax = 256
)

// metricsAuth is a metricsserver.FilterProvider.
func metricsAuth(cfg *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
	authn, err := authnclient.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	authz, err := authzclient.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	a := &metricsAuthorizer{tokens: authn.TokenReviews(), access: authz.SubjectAccessReviews(), now: time.Now, cache: map[[32]byte]metricsDecision{}}
	return func(log logr.Logger, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			status, err := a.check(req)
			switch {
			case err != nil:
				log.Error(err, "checking a metrics scraper's access")
				http.Error(w, "authentication or authorization failed", http.StatusInternalServerError)
			case status != http.StatusOK:
				http.Error(w, http.StatusText(status), status)
			default:
				next.ServeHTTP(w, req)
			}
		}), nil
	}, nil
}

type metricsDecision struct {
	status  int
	expires time.Time
}

type metricsAuthorizer struct {
	tokens authnclient.TokenReviewInterface
	access authzclient.SubjectAccessReviewInterface
	now    func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]metricsDecision
}

// check answers 200, 401 (no or invalid token) or 403 (not allowed) for a
// request; only a hash of the token is kept.
func (a *metricsAuthorizer) check(req *http.Request) (int, error) {
	token, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	token = strings.TrimSpace(token)
	if !ok || token == "" {
		return http.StatusUnauthorized, nil
	}
	verb := strings.ToLower(req.Method)
	key := sha256.Sum256([]byte(verb + " " + req.URL.Path + " " + token))
	now := a.now()
	a.mu.Lock()
	d, hit := a.cache[key]
	a.mu.Unlock()
	if hit && now.Before(d.expires) {
		return d.status, nil
	}
	status, err := a.review(req, token, verb)
	if err != nil {
		return 0, err
	}
	ttl := metricsDenyTTL
	if status == http.StatusOK {
		ttl = metricsAllowTTL
	}
	a.mu.Lock()
	if len(a.cache) >= metricsCacheMax {
		for k, v := range a.cache {
			if !now.Before(v.expires) || len(a.cache) >= metricsCacheMax {
				delete(a.cache, k)
			}
		}
	}
	a.cache[key] = metricsDecision{status: status, expires: now.Add(ttl)}
	a.mu.Unlock()
	return status, nil
}

func (a *metricsAuthorizer) review(req *http.Request, token, verb string) (int, error) {
	ctx := req.Context()
	tr, err := a.tokens.Create(ctx, &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return 0, fmt.Errorf("TokenReview: %w", err)
	}
	if !tr.Status.Authenticated {
		return http.StatusUnauthorized, nil
	}
	u := tr.Status.User
	extra := map[string]authzv1.ExtraValue{}
	for k, v := range u.Extra {
		extra[k] = authzv1.ExtraValue(v)
	}
	sar, err := a.access.Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra,
		NonResourceAttributes: &authzv1.NonResourceAttributes{Path: req.URL.Path, Verb: verb},
	}}, metav1.CreateOptions{})
	if err != nil {
		return 0, fmt.Errorf("SubjectAccessReview: %w", err)
	}
	if !sar.Status.Allowed || sar.Status.Denied {
		return http.StatusForbidden, nil
	}
	return http.StatusOK, nil
}
