package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/inboxchat/inboxchat-operator/api/v1alpha1"
	"github.com/inboxchat/inboxchat-operator/internal/crypto"
	"github.com/inboxchat/inboxchat-operator/internal/mail"
)

// reconcileKeyring makes the tenant keyring once and rotates it every
// spec.encryption.keyRotationInterval: a new active AES-256-GCM key, with the
// older keys kept for decryption. A keyring that disappears after it was made
// is never silently replaced, since a new one could not read existing data:
// the Tenant stalls until it is restored.
func (r *TenantReconciler) reconcileKeyring(ctx context.Context, t *v1alpha1.Tenant) (*ctrl.Result, error) {
	return r.reconcileKeyringFrom(ctx, t, false)
}

// reconcileKeyringFrom is reconcileKeyring; fromAPI reads the keyring
// through the API even before the first one is made.
func (r *TenantReconciler) reconcileKeyringFrom(ctx context.Context, t *v1alpha1.Tenant, fromAPI bool) (*ctrl.Result, error) {
	ns := t.NamespaceName()
	now := r.Clock.Now()
	// Before the first keyring is made, the cache's word that there is none
	// is enough (creating one that exists fails); after, a missing keyring
	// stalls the Tenant, so only the API may say it is gone.
	if !fromAPI {
		if f, ok := r.secrets.lookup(ctx, r.Client, ns, keyringSecretName); ok && f.keyringStillGood(now, t.Spec.Encryption.RotationInterval()) {
			t.Status.Keyring = f.keyring.DeepCopy()
			return nil, nil
		}
	}
	get := r.getOwnedSecret
	if !fromAPI && (t.Status.Keyring == nil || t.Status.Keyring.ActiveKeyID == "") {
		get = r.cachedOwnedSecret
	}
	cur, err := get(ctx, ns, keyringSecretName)
	if apierrors.IsNotFound(err) && t.Status.Keyring != nil && t.Status.Keyring.ActiveKeyID != "" {
		cur, err = r.getOwnedSecret(ctx, ns, keyringSecretName)
	}
	switch {
	case apierrors.IsNotFound(err) && t.Status.Keyring != nil && t.Status.Keyring.ActiveKeyID != "":
		msg := fmt.Sprintf("the keyring Secret %s/%s (active key %s) is gone; restore it from a backup -- a new keyring could not decrypt the tenant's data",
			ns, keyringSecretName, t.Status.Keyring.ActiveKeyID)
		setCondition(t, v1alpha1.ConditionSecretsReady, metav1.ConditionFalse, "KeyringMissing", msg)
		markStalled(t, "KeyringMissing", msg)
		return r.stalledBackoff(t), nil
	case apierrors.IsNotFound(err):
		kr, err := crypto.NewKeyring(now)
		if err != nil {
			return nil, err
		}
		data, err := kr.MarshalSecretData()
		if err != nil {
			return nil, err
		}
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: keyringSecretName, Namespace: ns, Labels: tenantLabels(t)},
			Type:       corev1.SecretTypeOpaque,
			Data:       data,
		}
		if err := controllerutil.SetControllerReference(t, s, r.Scheme); err != nil {
			return nil, err
		}
		if err := r.Create(ctx, s, fieldOwner); err != nil {
			if apierrors.IsAlreadyExists(err) && !fromAPI {
				// The cache had not seen it yet: use the one that exists.
				return r.reconcileKeyringFrom(ctx, t, true)
			}
			return nil, fmt.Errorf("creating the keyring: %w", err)
		}
		r.event(t, corev1.EventTypeNormal, "KeyringCreated", "Generate", "created keyring %s/%s with active key %s", ns, keyringSecretName, kr.ActiveKeyID())
		setKeyringStatus(t, kr)
		r.secrets.remember(s, secretFacts{keyring: t.Status.Keyring.DeepCopy()}) // s is now as stored
		return nil, nil
	case err != nil:
		return nil, err
	}

	kr, err := crypto.KeyringFromSecretData(cur.Data)
	if err != nil {
		msg := fmt.Sprintf("the keyring Secret %s/%s cannot be read (%v); restore it from a backup", ns, keyringSecretName, err)
		setCondition(t, v1alpha1.ConditionSecretsReady, metav1.ConditionFalse, "KeyringInvalid", msg)
		markStalled(t, "KeyringInvalid", msg)
		return r.stalledBackoff(t), nil
	}
	if err := r.adoptMetadata(ctx, t, cur, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Labels: tenantLabels(t)}}); err != nil {
		return nil, err
	}
	if kr.DueForRotation(now, t.Spec.Encryption.RotationInterval()) {
		previous := kr.ActiveKeyID()
		if err := kr.Rotate(now); err != nil {
			return nil, err
		}
		data, err := kr.MarshalSecretData()
		if err != nil {
			return nil, err
		}
		updated := cur.DeepCopy()
		updated.Data = data
		// An optimistic-lock patch: two rotations racing cannot both win.
		if err := r.Patch(ctx, updated, client.MergeFromWithOptions(cur, client.MergeFromWithOptimisticLock{}), fieldOwner); err != nil {
			return nil, fmt.Errorf("rotating the keyring: %w", err)
		}
		r.event(t, corev1.EventTypeNormal, "KeysRotated", "Rotate", "rotated the keyring: active key %s replaces %s, which is kept for decryption", kr.ActiveKeyID(), previous)
		r.notify(ctx, t, mail.KindKeysRotated, mail.KeysRotatedData{Tenant: t.Name, ActiveKeyID: kr.ActiveKeyID(), RotatedAt: kr.RotatedAt(), NextRotation: kr.RotatedAt().Add(t.Spec.Encryption.RotationInterval())})
		setKeyringStatus(t, kr)
		r.secrets.remember(updated, secretFacts{keyring: t.Status.Keyring.DeepCopy()}) // updated is now as stored
		return nil, nil
	}
	setKeyringStatus(t, kr)
	r.secrets.remember(cur, secretFacts{keyring: t.Status.Keyring.DeepCopy()})
	return nil, nil
}

func setKeyringStatus(t *v1alpha1.Tenant, kr *crypto.Keyring) {
	rotated := metav1.NewTime(kr.RotatedAt().Truncate(time.Second))
	t.Status.Keyring = &v1alpha1.KeyringStatus{ActiveKeyID: kr.ActiveKeyID(), RotatedAt: &rotated, Keys: int32(kr.Len())}
}
