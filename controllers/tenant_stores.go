package controllers

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

// +kubebuilder:rbac:groups=apps,resources=statefulsets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=services;persistentvolumeclaims,verbs=get;list;watch;create;update;patch;delete

// StoreImages are the images of the managed stores.
type StoreImages struct {
	Postgres string
	MySQL    string
	Redis    string
}

// DefaultStoreImages are current, widely used images.
func DefaultStoreImages() StoreImages {
	return StoreImages{Postgres: "postgres:17.6", MySQL: "mariadb:11.8", Redis: "redis:7.4"}
}

const storeUID = 999 // the postgres, mysql and redis users of the official images

func databaseEngine(t *v1alpha1.Tenant) v1alpha1.DatabaseEngine {
	if d := t.Spec.Stores.Database; d.Managed != nil {
		return d.Managed.Engine
	} else if d.External != nil {
		return d.External.Engine
	}
	return v1alpha1.DatabaseEnginePostgres
}

func managedSessions(t *v1alpha1.Tenant) bool {
	return t.Spec.Stores.Sessions == nil || t.Spec.Stores.Sessions.External == nil
}

// storeService is a headless Service for a store StatefulSet.
func storeService(t *v1alpha1.Tenant, name, component string, p int32) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: t.NamespaceName(), Labels: componentLabels(t, component)},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  selectorLabels(t, component),
			Ports:     []corev1.ServicePort{{Name: component, Port: p, TargetPort: intstr.FromInt32(p), Protocol: corev1.ProtocolTCP}},
		},
	}
}

// storeStatefulSet is the common shape of the store StatefulSets: one replica,
// restricted security, the volume from a claim template that is retained when
// the StatefulSet goes (so offboarding with Retain keeps the data).
func storeStatefulSet(t *v1alpha1.Tenant, name, component string, size resource.Quantity, class *string, c corev1.Container, volumes []corev1.Volume) *appsv1.StatefulSet {
	c.SecurityContext = restrictedContainerSecurity(false)
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: "/data"})
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: t.NamespaceName(), Labels: componentLabels(t, component)},
		Spec: appsv1.StatefulSetSpec{
			ServiceName: name,
			Replicas:    ptr.To[int32](1),
			Selector:    &metav1.LabelSelector{MatchLabels: selectorLabels(t, component)},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: componentLabels(t, component)},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken: ptr.To(false),
					ServiceAccountName:           workerSAName,
					SecurityContext:              restrictedPodSecurity(storeUID),
					Containers:                   []corev1.Container{c},
					Volumes:                      volumes,
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: componentLabels(t, component)},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					StorageClassName: class,
					Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
				},
			}},
		},
	}
}

func execProbe(cmd ...string) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:        corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: cmd}},
		InitialDelaySeconds: 5, PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: 6,
	}
}

var storeTLSVolume = corev1.Volume{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
	SecretName: storeTLSSecretName, DefaultMode: ptr.To[int32](0o440),
}}}

// desiredDatabase is the managed PostgreSQL or MariaDB (for engine mysql):
// generated credentials from a Secret, TLS from the operator's CA.
func desiredDatabase(t *v1alpha1.Tenant, images StoreImages) (*appsv1.StatefulSet, *corev1.Service) {
	m := t.Spec.Stores.Database.Managed
	tlsMount := corev1.VolumeMount{Name: "tls", MountPath: "/tls", ReadOnly: true}
	run := corev1.VolumeMount{Name: "run", MountPath: "/var/run"}
	tmp := corev1.VolumeMount{Name: "tmp", MountPath: "/tmp"}
	volumes := []corev1.Volume{storeTLSVolume,
		{Name: "run", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	var c corev1.Container
	var p int32
	if m.Engine == v1alpha1.DatabaseEngineMySQL {
		p = 3306
		c = corev1.Container{
			Name: "mariadb", Image: images.MySQL,
			Args: []string{"--ssl-cert=/tls/tls.crt", "--ssl-key=/tls/tls.key", "--ssl-ca=/tls/ca.crt", "--require-secure-transport=ON", "--datadir=/data/mysql"},
			Env: []corev1.EnvVar{
				{Name: "MARIADB_DATABASE", Value: databaseName},
				{Name: "MARIADB_USER", Value: databaseUser},
				secretEnv("MARIADB_PASSWORD", dbSecretName, "password"),
				secretEnv("MARIADB_ROOT_PASSWORD", dbSecretName, "root-password"),
			},
			ReadinessProbe: execProbe("healthcheck.sh", "--connect", "--innodb_initialized"),
			VolumeMounts:   []corev1.VolumeMount{tlsMount, run, tmp},
		}
	} else {
		p = 5432
		c = corev1.Container{
			Name: "postgres", Image: images.Postgres,
			Args: []string{"-c", "ssl=on", "-c", "ssl_cert_file=/tls/tls.crt", "-c", "ssl_key_file=/tls/tls.key", "-c", "ssl_ca_file=/tls/ca.crt"},
			Env: []corev1.EnvVar{
				{Name: "POSTGRES_DB", Value: databaseName},
				{Name: "POSTGRES_USER", Value: databaseUser},
				secretEnv("POSTGRES_PASSWORD", dbSecretName, "password"),
				{Name: "PGDATA", Value: "/data/pgdata"},
			},
			ReadinessProbe: execProbe("pg_isready", "-h", "127.0.0.1", "-U", databaseUser, "-d", databaseName),
			VolumeMounts:   []corev1.VolumeMount{tlsMount, run, tmp},
		}
	}
	c.Ports = []corev1.ContainerPort{{Name: componentDatabase, ContainerPort: p}}
	c.Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
	}
	sts := storeStatefulSet(t, dbName, componentDatabase, m.StorageSize(), m.StorageClassName, c, volumes)
	return sts, storeService(t, dbName, componentDatabase, p)
}

// desiredRedis is the managed session store: password and TLS from Secrets,
// configuration from a mounted file so no secret appears in its arguments.
func desiredRedis(t *v1alpha1.Tenant, images StoreImages) (*appsv1.StatefulSet, *corev1.Service) {
	size := v1alpha1.ManagedSessions{}.StorageSize()
	if s := t.Spec.Stores.Sessions; s != nil && s.Managed != nil {
		size = s.Managed.StorageSize()
	}
	c := corev1.Container{
		Name: "redis", Image: images.Redis,
		Command:        []string{"redis-server", "/config/redis.conf"},
		Env:            []corev1.EnvVar{secretEnv("REDISCLI_AUTH", redisSecretName, "password")},
		Ports:          []corev1.ContainerPort{{Name: componentSessions, ContainerPort: 6379}},
		ReadinessProbe: execProbe("redis-cli", "--tls", "--cacert", "/tls/ca.crt", "-h", "127.0.0.1", "ping"),
		VolumeMounts: []corev1.VolumeMount{
			{Name: "config", MountPath: "/config", ReadOnly: true},
			{Name: "tls", MountPath: "/tls", ReadOnly: true},
		},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
		},
	}
	volumes := []corev1.Volume{storeTLSVolume, {Name: "config", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: redisSecretName, Items: []corev1.KeyToPath{{Key: "redis.conf", Path: "redis.conf"}}, DefaultMode: ptr.To[int32](0o440),
	}}}}
	return storeStatefulSet(t, redisName, componentSessions, size, nil, c, volumes), storeService(t, redisName, componentSessions, 6379)
}

// desiredFilesClaim is the uploads volume.
func desiredFilesClaim(t *v1alpha1.Tenant) *corev1.PersistentVolumeClaim {
	f := t.Spec.Stores.Files
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: filesClaimName, Namespace: t.NamespaceName(), Labels: componentLabels(t, "files")},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: f.StorageClassName,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: f.StorageSize()}},
		},
	}
}

// reconcileStores applies the managed stores and the files claim, and checks
// the Secrets of external stores. StoresReady turns True when every managed
// store reports a ready replica.
func (r *TenantReconciler) reconcileStores(ctx context.Context, t *v1alpha1.Tenant) (*ctrl.Result, error) {
	var objs []ownedObject
	var waiting []string
	if t.Spec.Stores.Database.Managed != nil {
		sts, svc := desiredDatabase(t, r.Images)
		objs = append(objs, svc, sts)
		waiting = append(waiting, sts.Name)
	}
	if managedSessions(t) {
		sts, svc := desiredRedis(t, r.Images)
		objs = append(objs, svc, sts)
		waiting = append(waiting, sts.Name)
	}
	claim := desiredFilesClaim(t)
	if err := r.ensureClaim(ctx, t, claim); err != nil {
		return nil, err
	}
	if err := r.applyAll(ctx, t, objs...); err != nil {
		return nil, err
	}
	var notReady []string
	for _, name := range waiting {
		sts := &appsv1.StatefulSet{}
		err := r.Get(ctx, client.ObjectKey{Namespace: t.NamespaceName(), Name: name}, sts)
		if client.IgnoreNotFound(err) != nil {
			return nil, err
		}
		// Not in the cache yet (just created) counts as not ready.
		if err != nil || sts.Status.ObservedGeneration != sts.Generation || sts.Status.ReadyReplicas < 1 {
			notReady = append(notReady, name)
		}
	}
	if len(notReady) > 0 {
		setCondition(t, v1alpha1.ConditionStoresReady, metav1.ConditionFalse, "StoresStarting", fmt.Sprintf("waiting for %v to be ready", notReady))
		return nil, nil
	}
	if t.Spec.Stores.Database.Managed != nil {
		migrated, err := r.reconcileMigration(ctx, t)
		if err != nil || !migrated {
			return nil, err
		}
	}
	setCondition(t, v1alpha1.ConditionStoresReady, metav1.ConditionTrue, "StoresReady", "the database, the session store and the files volume are ready")
	return nil, nil
}

// ensureClaim creates the files claim once; a claim's spec is immutable
// except for growing, so an existing claim only gets its labels and owner.
func (r *TenantReconciler) ensureClaim(ctx context.Context, t *v1alpha1.Tenant, claim *corev1.PersistentVolumeClaim) error {
	cur := &corev1.PersistentVolumeClaim{}
	err := r.Get(ctx, client.ObjectKeyFromObject(claim), cur)
	if apierrors.IsNotFound(err) {
		// A claim retained by an earlier Tenant of this name is not in the
		// cache until it is labelled again; look through the API.
		err = r.APIReader.Get(ctx, client.ObjectKeyFromObject(claim), cur)
	}
	if apierrors.IsNotFound(err) {
		return r.applyAll(ctx, t, claim)
	}
	if err != nil {
		return err
	}
	meta := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: claim.Name, Namespace: claim.Namespace, Labels: claim.Labels}}
	return r.adoptMetadata(ctx, t, cur, meta)
}
