package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// ServiceAccountConfig makes ServiceAccount ns/name (the namespace must
// exist; one made before is reused), binds it to the ClusterRole role, and returns cfg authenticating
// with a token of it instead of the envtest admin's certificate: a client
// as a cluster has them, whose requests RBAC authorizes.
func ServiceAccountConfig(ctx context.Context, admin client.Client, cfg *rest.Config, ns, name, role string) (*rest.Config, error) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if err := admin.Create(ctx, sa); client.IgnoreAlreadyExists(err) != nil {
		return nil, err
	}
	if err := admin.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("test-%s-%s", ns, name)},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}},
	}); client.IgnoreAlreadyExists(err) != nil {
		return nil, err
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(6 * 3600))}}
	if err := admin.SubResource("token").Create(ctx, sa, tr); err != nil {
		return nil, fmt.Errorf("a token for ServiceAccount %s/%s: %w", ns, name, err)
	}
	out := rest.AnonymousClientConfig(cfg)
	out.BearerToken = tr.Status.Token
	return out, nil
}

// OperatorConfig returns cfg as the operator's ServiceAccount in namespace
// (which must exist) with the ClusterRole the operator ships with
// (config/rbac/role.yaml, generated from the RBAC markers): what the manager
// may do in a cluster, so a missing permission fails the tests.
func OperatorConfig(ctx context.Context, admin client.Client, cfg *rest.Config, namespace string) (*rest.Config, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(root, "config", "rbac", "role.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal(data, role); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := admin.Create(ctx, role); client.IgnoreAlreadyExists(err) != nil {
		return nil, err
	}
	return ServiceAccountConfig(ctx, admin, cfg, namespace, "inboxchat-operator", role.Name)
}
