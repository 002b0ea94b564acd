package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=get;list;watch;create;update;patch;delete
// The operator grants tenant admins these verbs in their namespace, so it must hold them itself:
// +kubebuilder:rbac:groups=inboxchat.io,resources=broadcasts;erasurerequests;policyupdates,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=inboxchat.io,resources=broadcasts/status;erasurerequests/status;policyupdates/status,verbs=get;update;patch

// desiredAdminRole may manage Broadcasts, ErasureRequests and PolicyUpdates
// in the tenant namespace and read their status -- nothing else.
func desiredAdminRole(t *v1alpha1.Tenant) *rbacv1.Role {
	return &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: adminRoleName, Namespace: t.NamespaceName(), Labels: tenantLabels(t)},
		Rules: []rbacv1.PolicyRule{
			{
				APIGroups: []string{v1alpha1.GroupVersion.Group},
				Resources: []string{"broadcasts", "erasurerequests", "policyupdates"},
				Verbs:     []string{"get", "list", "watch", "create", "update", "patch", "delete"},
			},
			{
				APIGroups: []string{v1alpha1.GroupVersion.Group},
				Resources: []string{"broadcasts/status", "erasurerequests/status", "policyupdates/status"},
				Verbs:     []string{"get"},
			},
		},
	}
}

// desiredAdminRoleBinding binds the admins' users and groups to the admin Role.
// With no user or group among the admins it binds nobody.
func desiredAdminRoleBinding(t *v1alpha1.Tenant) *rbacv1.RoleBinding {
	subjects := []rbacv1.Subject{}
	for _, a := range t.Spec.Admins {
		if a.User != "" {
			subjects = append(subjects, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: a.User})
		}
		if a.Group != "" {
			subjects = append(subjects, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: a.Group})
		}
	}
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: adminRoleName, Namespace: t.NamespaceName(), Labels: tenantLabels(t)},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: adminRoleName},
		Subjects:   subjects,
	}
}

// desiredServiceAccounts are the app's ServiceAccount and the workers' one;
// neither mounts a token by default: the app needs no Kubernetes API, and
// each worker Job mounts the token of its own per-Job ServiceAccount.
func desiredServiceAccounts(t *v1alpha1.Tenant) []*corev1.ServiceAccount {
	mk := func(name, component string) *corev1.ServiceAccount {
		return &corev1.ServiceAccount{
			ObjectMeta:                   metav1.ObjectMeta{Name: name, Namespace: t.NamespaceName(), Labels: componentLabels(t, component)},
			AutomountServiceAccountToken: ptr.To(false),
		}
	}
	return []*corev1.ServiceAccount{mk(appName, componentApp), mk(workerSAName, componentWorker)}
}

// reconcileRBAC applies the admin Role and RoleBinding and the ServiceAccounts.
func (r *TenantReconciler) reconcileRBAC(ctx context.Context, t *v1alpha1.Tenant) (*ctrl.Result, error) {
	objs := []ownedObject{desiredAdminRole(t), desiredAdminRoleBinding(t)}
	for _, sa := range desiredServiceAccounts(t) {
		objs = append(objs, sa)
	}
	return nil, r.applyAll(ctx, t, objs...)
}
