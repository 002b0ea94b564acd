package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ObservedHashAnnotation carries, on objects in the operator's cache only,
// the hash of everything but their status and server-set metadata. It is
// never written to the API server.
const ObservedHashAnnotation = "inboxchat.io/observed-hash"

// ObservedHash hashes an object's content: its spec (or data, rules, ...),
// labels, annotations and owner references, without status and without the
// metadata the server maintains. Two versions of an object that differ only
// in status hash the same.
func ObservedHash(obj client.Object) (string, error) {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return "", err
	}
	delete(u, "status")
	delete(u, "apiVersion")
	delete(u, "kind")
	ann := map[string]string{}
	for k, v := range obj.GetAnnotations() {
		if k != ObservedHashAnnotation {
			ann[k] = v
		}
	}
	u["metadata"] = map[string]any{"labels": obj.GetLabels(), "annotations": ann, "ownerReferences": obj.GetOwnerReferences()}
	data, err := json.Marshal(u) // map keys marshal sorted: the hash is stable
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16]), nil
}

// appliedMemo remembers, per child, the desired state the operator last
// found in place and the hash of the live object at that moment, so that a
// reconcile that finds nothing changed needs neither a write nor a read.
type appliedMemo struct {
	mu      sync.Mutex
	entries map[types.UID]memoEntry
}

type memoEntry struct{ desired, observed string }

func (m *appliedMemo) get(uid types.UID) (memoEntry, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[uid]
	return e, ok
}

func (m *appliedMemo) put(uid types.UID, e memoEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries == nil {
		m.entries = map[types.UID]memoEntry{}
	}
	m.entries[uid] = e
}

// desiredHash hashes what the operator wants an object to be.
func desiredHash(obj client.Object) (string, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16]), nil
}
