package controllers

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

const (
	unsubscribeName      = "inboxchat-unsubscribe"
	componentUnsubscribe = "unsubscribe"
	unsubscribePath      = "/unsubscribe/"
)

// desiredUnsubscribe is the server of the unsubscribe links that every
// broadcast message carries: the operator binary's unsubscribe subcommand,
// behind the tenant Ingress at /unsubscribe/. It keeps running while the
// tenant is suspended: a person can always opt out.
func desiredUnsubscribe(t *v1alpha1.Tenant, o WorkerOptions) (*appsv1.Deployment, *corev1.Service) {
	labels := componentLabels(t, componentUnsubscribe)
	replicas := int32(1)
	if t.Spec.App.AppReplicas() > 1 {
		replicas = 2
	}
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}, PeriodSeconds: 10}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: unsubscribeName, Namespace: t.NamespaceName(), Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: selectorLabels(t, componentUnsubscribe)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName:           workerSAName,
					AutomountServiceAccountToken: ptr.To(false),
					SecurityContext:              restrictedPodSecurity(65532),
					Containers: []corev1.Container{{
						Name:    "unsubscribe",
						Image:   o.Image,
						Command: []string{workerBinary},
						Args:    []string{"unsubscribe", "--listen=:8080", "--tenant=" + t.Name, "--app-secret-dir=" + workerAppDir, "--store-ca-file=" + workerStoreTLSDir + "/ca.crt"},
						Env:     databaseEnv(t),
						Ports:   []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						VolumeMounts: []corev1.VolumeMount{
							{Name: "app", MountPath: workerAppDir, ReadOnly: true},
							{Name: "store-tls", MountPath: workerStoreTLSDir, ReadOnly: true},
						},
						ReadinessProbe:  probe,
						LivenessProbe:   probe,
						SecurityContext: restrictedContainerSecurity(true),
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resourceMust("20m"), corev1.ResourceMemory: resourceMust("32Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceMemory: resourceMust("128Mi")},
						},
					}},
					Volumes: []corev1.Volume{
						{Name: "app", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: appSecretName,
							Items: []corev1.KeyToPath{{Key: "unsubscribe-key", Path: "unsubscribe-key"}}, DefaultMode: ptr.To[int32](0o400)}}},
						{Name: "store-tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: storeTLSSecretName,
							Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}, DefaultMode: ptr.To[int32](0o444), Optional: ptr.To(true)}}},
					},
				},
			},
		},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: unsubscribeName, Namespace: t.NamespaceName(), Labels: labels},
		Spec: corev1.ServiceSpec{
			Selector: selectorLabels(t, componentUnsubscribe),
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
		},
	}
	return dep, svc
}

// reconcileUnsubscribe applies the unsubscribe server.
func (r *TenantReconciler) reconcileUnsubscribe(ctx context.Context, t *v1alpha1.Tenant) (*ctrl.Result, error) {
	dep, svc := desiredUnsubscribe(t, r.Worker)
	return nil, r.applyAll(ctx, t, dep, svc)
}
