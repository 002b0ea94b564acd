package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete

// NetworkOptions say where the cluster's ingress controller and DNS run.
type NetworkOptions struct {
	// IngressNamespaceSelector selects the namespaces of the ingress
	// controller, whose pods may reach the app.
	IngressNamespaceSelector map[string]string
	// DNSNamespaceSelector and DNSPodSelector select the cluster DNS pods.
	DNSNamespaceSelector map[string]string
	DNSPodSelector       map[string]string
}

// DefaultNetworkOptions fit ingress-nginx and CoreDNS.
func DefaultNetworkOptions() NetworkOptions {
	return NetworkOptions{
		IngressNamespaceSelector: map[string]string{"kubernetes.io/metadata.name": "ingress-nginx"},
		DNSNamespaceSelector:     map[string]string{"kubernetes.io/metadata.name": "kube-system"},
		DNSPodSelector:           map[string]string{"k8s-app": "kube-dns"},
	}
}

func port(p int32, proto corev1.Protocol) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Port: ptr.To(intstr.FromInt32(p)), Protocol: ptr.To(proto)}
}

// storePorts are the ports of the tenant's stores.
func storePorts(t *v1alpha1.Tenant) []networkingv1.NetworkPolicyPort {
	dbPort := int32(5432)
	if databaseEngine(t) == v1alpha1.DatabaseEngineMySQL {
		dbPort = 3306
	}
	return []networkingv1.NetworkPolicyPort{port(dbPort, corev1.ProtocolTCP), port(6379, corev1.ProtocolTCP)}
}

// desiredNetworkPolicies isolate the tenant: deny everything in and out, then
// allow the ingress controller to the app, the app and workers to the stores,
// DNS, and HTTPS/SMTP egress for Messenger and mail.
func desiredNetworkPolicies(t *v1alpha1.Tenant, o NetworkOptions) []*networkingv1.NetworkPolicy {
	ns := t.NamespaceName()
	mk := func(name string, spec networkingv1.NetworkPolicySpec) *networkingv1.NetworkPolicy {
		return &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: tenantLabels(t)}, Spec: spec}
	}
	both := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	clients := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: labelComponent, Operator: metav1.LabelSelectorOpIn, Values: []string{componentApp, componentWorker, componentUnsubscribe},
	}}}
	stores := metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: labelComponent, Operator: metav1.LabelSelectorOpIn, Values: []string{componentDatabase, componentSessions},
	}}}
	policies := []*networkingv1.NetworkPolicy{
		mk("inboxchat-default-deny", networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{}, PolicyTypes: both}),
		mk("inboxchat-allow-dns", networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				To: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: o.DNSNamespaceSelector},
					PodSelector:       &metav1.LabelSelector{MatchLabels: o.DNSPodSelector},
				}},
				Ports: []networkingv1.NetworkPolicyPort{port(53, corev1.ProtocolUDP), port(53, corev1.ProtocolTCP)},
			}},
		}),
		mk("inboxchat-allow-ingress-to-app", networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: selectorLabels(t, componentApp)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: o.IngressNamespaceSelector}}},
				Ports: []networkingv1.NetworkPolicyPort{port(appPort, corev1.ProtocolTCP)},
			}},
		}),
		mk("inboxchat-allow-ingress-to-unsubscribe", networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: selectorLabels(t, componentUnsubscribe)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: o.IngressNamespaceSelector}}},
				Ports: []networkingv1.NetworkPolicyPort{port(8080, corev1.ProtocolTCP)},
			}},
		}),
		mk("inboxchat-allow-clients-to-stores", networkingv1.NetworkPolicySpec{
			PodSelector: stores,
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{PodSelector: clients}},
				Ports: storePorts(t),
			}},
		}),
	}
	egress := []networkingv1.NetworkPolicyEgressRule{
		// The stores in this namespace.
		{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &stores}}, Ports: storePorts(t)},
		// Messenger's Graph API over HTTPS, and SMTP submission (587, 465).
		{Ports: []networkingv1.NetworkPolicyPort{port(443, corev1.ProtocolTCP), port(587, corev1.ProtocolTCP), port(465, corev1.ProtocolTCP)}},
	}
	if t.Spec.Stores.Database.External != nil || (t.Spec.Stores.Sessions != nil && t.Spec.Stores.Sessions.External != nil) {
		// External stores live outside the namespace; their address is in a
		// Secret the operator does not parse into policy, so allow the ports.
		egress = append(egress, networkingv1.NetworkPolicyEgressRule{Ports: storePorts(t)})
	}
	policies = append(policies, mk("inboxchat-allow-clients-egress", networkingv1.NetworkPolicySpec{
		PodSelector: *clients,
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
		Egress:      egress,
	}))
	return policies
}

// reconcileNetwork applies the NetworkPolicies.
func (r *TenantReconciler) reconcileNetwork(ctx context.Context, t *v1alpha1.Tenant) (*ctrl.Result, error) {
	var objs []ownedObject
	for _, p := range desiredNetworkPolicies(t, r.Network) {
		objs = append(objs, p)
	}
	return nil, r.applyAll(ctx, t, objs...)
}
