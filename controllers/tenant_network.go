package controllers

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

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
	// APIServerPorts are the ports, beside 443, on which the worker Jobs may
	// reach the Kubernetes API: where the API server listens on another port
	// behind the kubernetes Service (6443 on kubeadm and k3s) and the CNI
	// applies policy after the Service's address translation (Calico,
	// Cilium), the workers need that port. Empty: 443 only.
	APIServerPorts []int32
}

// DefaultNetworkOptions fit ingress-nginx and CoreDNS.
func DefaultNetworkOptions() NetworkOptions {
	return NetworkOptions{
		IngressNamespaceSelector: map[string]string{"kubernetes.io/metadata.name": "ingress-nginx"},
		DNSNamespaceSelector:     map[string]string{"kubernetes.io/metadata.name": "kube-system"},
		DNSPodSelector:           map[string]string{"k8s-app": "kube-dns"},
		APIServerPorts:           []int32{6443},
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

// desiredNetworkPolicies isolate the tenant: deny everything in and out but
// DNS, then allow the ingress controller to the app and the unsubscribe
// server, the app and workers to the stores, HTTPS/SMTP egress for Messenger
// and mail, and the workers to the API server's own port. Policies add up,
// so each is as narrow as its selector; rules that select the same pods share
// one policy (fewer objects for the API server to store and for the CNI to
// watch, the same traffic allowed).
func desiredNetworkPolicies(t *v1alpha1.Tenant, o NetworkOptions) []*networkingv1.NetworkPolicy {
	ns := t.NamespaceName()
	mk := func(name string, spec networkingv1.NetworkPolicySpec) *networkingv1.NetworkPolicy {
		return &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: tenantLabels(t)}, Spec: spec}
	}
	both := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	in := func(components ...string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
			Key: labelComponent, Operator: metav1.LabelSelectorOpIn, Values: components,
		}}}
	}
	clients := in(componentApp, componentWorker, componentUnsubscribe)
	stores := *in(componentDatabase, componentSessions)
	policies := []*networkingv1.NetworkPolicy{
		// Every pod: no ingress at all, egress only to the cluster DNS.
		mk(networkPolicyDefaultDeny, networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			PolicyTypes: both,
			Egress: []networkingv1.NetworkPolicyEgressRule{{
				To: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: o.DNSNamespaceSelector},
					PodSelector:       &metav1.LabelSelector{MatchLabels: o.DNSPodSelector},
				}},
				Ports: []networkingv1.NetworkPolicyPort{port(53, corev1.ProtocolUDP), port(53, corev1.ProtocolTCP)},
			}},
		}),
		// The app and the unsubscribe server both listen on appPort.
		mk("inboxchat-allow-ingress", networkingv1.NetworkPolicySpec{
			PodSelector: *in(componentApp, componentUnsubscribe),
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: o.IngressNamespaceSelector}}},
				Ports: []networkingv1.NetworkPolicyPort{port(appPort, corev1.ProtocolTCP)},
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
	if len(o.APIServerPorts) > 0 {
		// Only the workers talk to the Kubernetes API (their object's
		// status, their report); the app and the unsubscribe server do not.
		var ports []networkingv1.NetworkPolicyPort
		for _, p := range o.APIServerPorts {
			ports = append(ports, port(p, corev1.ProtocolTCP))
		}
		policies = append(policies, mk(networkPolicyWorkersToAPIServer, networkingv1.NetworkPolicySpec{
			PodSelector: *in(componentWorker),
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{Ports: ports}},
		}))
	}
	return policies
}

// networkPolicyWorkersToAPIServer lets the workers reach the API server on
// NetworkOptions.APIServerPorts; it is deleted when those are empty.
const networkPolicyWorkersToAPIServer = "inboxchat-allow-workers-to-apiserver"

// networkPolicyDefaultDeny is the policy that denies all but DNS.
const networkPolicyDefaultDeny = "inboxchat-default-deny"

// retiredNetworkPolicies are the names of policies that earlier versions
// made and that the ones above replaced; they allow nothing the current
// ones do not, and are deleted when found.
var retiredNetworkPolicies = []string{"inboxchat-allow-dns", "inboxchat-allow-ingress-to-app", "inboxchat-allow-ingress-to-unsubscribe"}

// reconcileNetwork applies the NetworkPolicies and deletes retired ones.
func (r *TenantReconciler) reconcileNetwork(ctx context.Context, t *v1alpha1.Tenant) (*ctrl.Result, error) {
	var objs []ownedObject
	for _, p := range desiredNetworkPolicies(t, r.Network) {
		objs = append(objs, p)
	}
	if err := r.applyAll(ctx, t, objs...); err != nil {
		return nil, err
	}
	unwanted := retiredNetworkPolicies
	if len(r.Network.APIServerPorts) == 0 {
		unwanted = append(slices.Clip(unwanted), networkPolicyWorkersToAPIServer)
	}
	for _, name := range unwanted {
		old := &networkingv1.NetworkPolicy{}
		err := r.Get(ctx, client.ObjectKey{Namespace: t.NamespaceName(), Name: name}, old)
		if apierrors.IsNotFound(err) || (err == nil && !metav1.IsControlledBy(old, t)) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := r.Delete(ctx, old, client.Preconditions{UID: &old.UID}); client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("deleting the NetworkPolicy %s: %w", name, err)
		}
	}
	return nil, nil
}
