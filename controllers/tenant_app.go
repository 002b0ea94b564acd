package controllers

import (
	"context"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete

const appPort = 8080

// IngressOptions shape the tenant Ingress.
type IngressOptions struct {
	// ClassName is the IngressClass; the cluster default when empty.
	ClassName string
	// Annotations are added to every tenant Ingress. The defaults turn on
	// the HTTP→HTTPS redirect and HSTS for ingress-nginx.
	Annotations map[string]string
}

// DefaultIngressOptions fit ingress-nginx.
func DefaultIngressOptions() IngressOptions {
	return IngressOptions{
		ClassName: "nginx",
		Annotations: map[string]string{
			"nginx.ingress.kubernetes.io/ssl-redirect":          "true",
			"nginx.ingress.kubernetes.io/force-ssl-redirect":    "true",
			"nginx.ingress.kubernetes.io/configuration-snippet": `more_set_headers "Strict-Transport-Security: max-age=31536000; includeSubDomains";`,
		},
	}
}

// appReplicas is the desired replica count: zero while suspended.
func appReplicas(t *v1alpha1.Tenant) int32 {
	if t.Spec.Suspend {
		return 0
	}
	return t.Spec.App.AppReplicas()
}

// appEnv wires the app to its secrets and stores; every secret value comes
// from a Secret key, never from the pod spec.
func appEnv(t *v1alpha1.Tenant) []corev1.EnvVar {
	env := []corev1.EnvVar{
		{Name: "INBOXCHAT_TENANT", Value: t.Name},
		{Name: "INBOXCHAT_PUBLIC_URL", Value: "https://" + t.Spec.App.Host},
		{Name: "INBOXCHAT_DATABASE_ENGINE", Value: string(databaseEngine(t))},
		{Name: "INBOXCHAT_SESSION_TTL", Value: t.Spec.Sessions.SessionTTL().String()},
		{Name: "INBOXCHAT_KEYRING_DIR", Value: "/etc/inboxchat/keyring"},
		{Name: "INBOXCHAT_FILES_DIR", Value: "/data/files"},
		{Name: "INBOXCHAT_POLICY_CONFIGMAP", Value: "inboxchat-policy"},
		secretEnv("INBOXCHAT_SESSION_KEY", appSecretName, "session-key"),
		secretEnv("INBOXCHAT_UNSUBSCRIBE_KEY", appSecretName, "unsubscribe-key"),
		secretEnv("INBOXCHAT_BLIND_INDEX_KEY", appSecretName, "blind-index-key"),
	}
	if ext := t.Spec.Stores.Database.External; ext != nil {
		env = append(env, secretEnv("INBOXCHAT_DATABASE_DSN", ext.SecretRef.Name, "dsn"))
	} else {
		env = append(env, secretEnv("INBOXCHAT_DATABASE_DSN", dbSecretName, "dsn"))
	}
	if s := t.Spec.Stores.Sessions; s != nil && s.External != nil {
		env = append(env, secretEnv("INBOXCHAT_REDIS_URL", s.External.SecretRef.Name, "url"))
	} else {
		env = append(env, secretEnv("INBOXCHAT_REDIS_URL", redisSecretName, "url"))
	}
	return env
}

// desiredAppDeployment is the InboxChat app.
func desiredAppDeployment(t *v1alpha1.Tenant) *appsv1.Deployment {
	labels := componentLabels(t, componentApp)
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http")}},
			PeriodSeconds: 10, TimeoutSeconds: 3, FailureThreshold: 3,
		}
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: appName, Namespace: t.NamespaceName(), Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(appReplicas(t)),
			Selector: &metav1.LabelSelector{MatchLabels: selectorLabels(t, componentApp)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName:           appName,
					AutomountServiceAccountToken: ptr.To(false),
					SecurityContext:              restrictedPodSecurity(10001),
					Containers: []corev1.Container{{
						Name:            "app",
						Image:           t.Spec.App.Image,
						Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: appPort}},
						Env:             appEnv(t),
						Resources:       t.Spec.App.Resources,
						SecurityContext: restrictedContainerSecurity(true),
						ReadinessProbe:  probe("/readyz"),
						LivenessProbe:   probe("/healthz"),
						VolumeMounts: []corev1.VolumeMount{
							{Name: "keyring", MountPath: "/etc/inboxchat/keyring", ReadOnly: true},
							{Name: "files", MountPath: "/data/files"},
							{Name: "tmp", MountPath: "/tmp"},
						},
					}},
					Volumes: []corev1.Volume{
						{Name: "keyring", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: keyringSecretName, DefaultMode: ptr.To[int32](0o400)}}},
						{Name: "files", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: filesClaimName}}},
						{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					},
				},
			},
		},
	}
}

// desiredAppService fronts the app pods.
func desiredAppService(t *v1alpha1.Tenant) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: appName, Namespace: t.NamespaceName(), Labels: componentLabels(t, componentApp)},
		Spec: corev1.ServiceSpec{
			Selector: selectorLabels(t, componentApp),
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
		},
	}
}

// desiredAppPDB keeps one app pod up during voluntary disruptions; it exists
// only when there is more than one replica.
func desiredAppPDB(t *v1alpha1.Tenant) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: appName, Namespace: t.NamespaceName(), Labels: componentLabels(t, componentApp)},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: selectorLabels(t, componentApp)},
		},
	}
}

// desiredIngress serves the host over HTTPS only: TLS from the tenant's
// certificate Secret, HTTP redirected, HSTS on.
func desiredIngress(t *v1alpha1.Tenant, o IngressOptions) *networkingv1.Ingress {
	ann := map[string]string{}
	for k, v := range o.Annotations {
		ann[k] = v
	}
	var class *string
	if o.ClassName != "" {
		class = ptr.To(o.ClassName)
	}
	prefix := networkingv1.PathTypePrefix
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: ingressName, Namespace: t.NamespaceName(), Labels: tenantLabels(t), Annotations: ann},
		Spec: networkingv1.IngressSpec{
			IngressClassName: class,
			TLS:              []networkingv1.IngressTLS{{Hosts: []string{t.Spec.App.Host}, SecretName: tlsSecretName}},
			Rules: []networkingv1.IngressRule{{
				Host: t.Spec.App.Host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
					{
						Path: unsubscribePath, PathType: &prefix,
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: unsubscribeName, Port: networkingv1.ServiceBackendPort{Name: "http"}}},
					},
					{
						Path: "/", PathType: &prefix,
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: appName, Port: networkingv1.ServiceBackendPort{Name: "http"}}},
					},
				}}},
			}},
		},
	}
}

// reconcileApp applies the app's Deployment, Service, PDB and Ingress, and
// reports AppAvailable from the Deployment's status.
func (r *TenantReconciler) reconcileApp(ctx context.Context, t *v1alpha1.Tenant) (*ctrl.Result, error) {
	dep := desiredAppDeployment(t)
	objs := []ownedObject{dep, desiredAppService(t), desiredIngress(t, r.Ingress)}
	if appReplicas(t) > 1 {
		objs = append(objs, desiredAppPDB(t))
	} else if err := r.deleteIfOwned(ctx, desiredAppPDB(t)); err != nil {
		return nil, err
	}
	if err := r.applyAll(ctx, t, objs...); err != nil {
		return nil, err
	}
	cur := &appsv1.Deployment{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(dep), cur); client.IgnoreNotFound(err) != nil {
		return nil, err
	}
	// A Deployment not in the cache yet (just created) has an empty status:
	// not available.
	want := appReplicas(t)
	switch {
	case t.Spec.Suspend:
		setCondition(t, v1alpha1.ConditionAppAvailable, metav1.ConditionFalse, "Suspended", "the tenant is suspended: the app is scaled to zero and no new Jobs start")
	case cur.Status.ObservedGeneration == cur.Generation && cur.Status.AvailableReplicas >= want && cur.Status.UpdatedReplicas >= want:
		setCondition(t, v1alpha1.ConditionAppAvailable, metav1.ConditionTrue, "Available", fmt.Sprintf("%d of %d app replicas are available", cur.Status.AvailableReplicas, want))
	default:
		setCondition(t, v1alpha1.ConditionAppAvailable, metav1.ConditionFalse, "Progressing",
			"waiting for the app rollout: "+strconv.Itoa(int(cur.Status.AvailableReplicas))+" of "+strconv.Itoa(int(want))+" replicas available")
	}
	return nil, nil
}

// deleteIfOwned deletes obj when it exists; used for children that are only
// wanted in some configurations.
func (r *TenantReconciler) deleteIfOwned(ctx context.Context, obj client.Object) error {
	if err := r.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	return client.IgnoreNotFound(r.Delete(ctx, obj))
}
