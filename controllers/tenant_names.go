package controllers

import (
	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
)

// Names of the objects the operator makes in a tenant namespace.
const (
	appName            = "inboxchat-app"
	adminRoleName      = "inboxchat-tenant-admin"
	workerSAName       = "inboxchat-worker"
	appSecretName      = "inboxchat-app"
	keyringSecretName  = "inboxchat-keyring"
	dbSecretName       = "inboxchat-db-credentials"
	redisSecretName    = "inboxchat-redis-credentials"
	tlsSecretName      = "inboxchat-tls"
	storeTLSSecretName = "inboxchat-store-tls"
	dbName             = "inboxchat-db"
	redisName          = "inboxchat-redis"
	filesClaimName     = "inboxchat-files"
	ingressName        = "inboxchat"
	certificateName    = "inboxchat"
	caSecretName       = "inboxchat-ca"
	labelComponent     = "app.kubernetes.io/component"
	labelName          = "app.kubernetes.io/name"
	labelInstance      = "app.kubernetes.io/instance"
	componentApp       = "app"
	componentDatabase  = "database"
	componentSessions  = "sessions"
	componentWorker    = "worker"
	annotationRetained = "inboxchat.io/retained-from"
	databaseUser       = "inboxchat"
	databaseName       = "inboxchat"
)

// componentLabels are the labels of one component of a tenant.
func componentLabels(t *v1alpha1.Tenant, component string) map[string]string {
	l := tenantLabels(t)
	l[labelComponent] = component
	l[labelName] = "inboxchat-" + component
	l[labelInstance] = t.Name
	return l
}

// selectorLabels select the pods of one component.
func selectorLabels(t *v1alpha1.Tenant, component string) map[string]string {
	return map[string]string{labelName: "inboxchat-" + component, labelInstance: t.Name}
}
