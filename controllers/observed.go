package controllers

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ObservedHashOf returns the hash (see ObservedHash) that the cache recorded
// on its slim copy of an object, or "" for an object read from the API.
//
// The slim copy keeps it in metadata.selfLink: a read-only field the API
// server no longer fills in (since Kubernetes 1.20), so it is free on every
// object, and a string there costs the cache 32 bytes per object where an
// annotations map cost it about 350.
func ObservedHashOf(obj client.Object) string {
	return obj.GetSelfLink()
}

// SetObservedHash records the hash on a slim copy's metadata.
func SetObservedHash(meta *metav1.ObjectMeta, hash string) {
	meta.SelfLink = hash
}

// ObservedHash hashes an object's content: its spec (or data, rules, ...),
// labels, annotations and owner references, without status and without the
// metadata the server maintains. Two versions of an object that differ only
// in status hash the same.
//
// It runs on every watch event the operator's cache receives, so it is
// cheap: the built-in kinds' top-level fields are hashed in their protobuf
// encoding (deterministic: the generated code sorts map keys), field by
// field, without converting or copying the object. Other kinds (unstructured
// objects of other projects) are hashed as JSON. The hash is only ever
// compared with hashes this process computed, never stored.
func ObservedHash(obj client.Object) (string, error) {
	h := sha256.New()
	if err := writeObservedMeta(h, obj); err != nil {
		return "", err
	}
	if err := writeObservedContent(h, obj); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// writeObservedMeta writes the labels, annotations and owner references as
// JSON, whose maps marshal with sorted keys.
func writeObservedMeta(w io.Writer, obj client.Object) error {
	return json.NewEncoder(w).Encode(struct {
		Labels          map[string]string       `json:"l,omitempty"`
		Annotations     map[string]string       `json:"a,omitempty"`
		OwnerReferences []metav1.OwnerReference `json:"o,omitempty"`
	}{obj.GetLabels(), obj.GetAnnotations(), obj.GetOwnerReferences()})
}

// protoMarshaler is what the built-in kinds' generated protobuf code has.
type protoMarshaler interface{ Marshal() ([]byte, error) }

// hashEncoding encodes what p points to for hashing: in its protobuf
// encoding when it has one (deterministic: the generated code sorts map
// keys), else as JSON (maps marshal with sorted keys).
func hashEncoding(p any) ([]byte, error) {
	if m, ok := p.(protoMarshaler); ok {
		return m.Marshal()
	}
	return json.Marshal(p)
}

// writeObservedContent writes every top-level field but the type, object
// metadata and status, each named and length-prefixed.
func writeObservedContent(w io.Writer, obj client.Object) error {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("%T is not a pointer to a struct", obj)
	}
	if u, ok := obj.(*unstructured.Unstructured); ok {
		content := make(map[string]any, len(u.Object))
		for k, v := range u.Object {
			switch k {
			case "apiVersion", "kind", "metadata", "status":
			default:
				content[k] = v
			}
		}
		return json.NewEncoder(w).Encode(content)
	}
	v = v.Elem()
	t := v.Type()
	var size [8]byte
	for i := range t.NumField() {
		f := t.Field(i)
		switch f.Name {
		case "TypeMeta", "ObjectMeta", "Status":
			continue
		}
		data, err := hashEncoding(v.Field(i).Addr().Interface())
		if err != nil {
			return err
		}
		binary.BigEndian.PutUint64(size[:], uint64(len(data)))
		for _, part := range [][]byte{[]byte(f.Name), size[:], data} {
			if _, err := w.Write(part); err != nil {
				return err
			}
		}
	}
	return nil
}

// uidMemo is a concurrency-safe map from objects' UIDs to what the operator
// remembers of them. It forgets what it has not used for a while, so the
// objects that come and go (Jobs, the children of deleted Tenants) do not
// make it grow without end: entries live in two generations, a lookup
// moves an entry to the current one, and every memoSweep the older
// generation is dropped. An entry untouched for two sweeps is gone; every
// Tenant's children are looked at on each resync (10 hours by default),
// well within that.
type uidMemo[T any] struct {
	mu        sync.Mutex
	cur, prev map[types.UID]T
	swept     time.Time
	// now is the clock of the sweeps; time.Now when nil.
	now func() time.Time
}

// memoSweep is how often a uidMemo drops its older generation.
const memoSweep = 24 * time.Hour

func (m *uidMemo[T]) get(uid types.UID) (T, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweepLocked()
	if e, ok := m.cur[uid]; ok {
		return e, true
	}
	e, ok := m.prev[uid]
	if ok {
		m.cur[uid] = e
		delete(m.prev, uid)
	}
	return e, ok
}

func (m *uidMemo[T]) put(uid types.UID, e T) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweepLocked()
	m.cur[uid] = e
	delete(m.prev, uid)
}

// len is how many entries the memo holds.
func (m *uidMemo[T]) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.cur) + len(m.prev)
}

func (m *uidMemo[T]) sweepLocked() {
	now := time.Now()
	if m.now != nil {
		now = m.now()
	}
	switch {
	case m.cur == nil:
		m.cur, m.swept = map[types.UID]T{}, now
	case now.Sub(m.swept) >= memoSweep:
		m.prev, m.cur, m.swept = m.cur, map[types.UID]T{}, now
	}
}

// appliedMemo remembers, per child, the desired state the operator last
// found in place and the hash of the live object at that moment, so that a
// reconcile that finds nothing changed needs neither a write nor a read.
type appliedMemo = uidMemo[memoEntry]

type memoEntry struct{ desired, observed string }

// desiredHash hashes what the operator wants an object to be: the built-in
// kinds in their (deterministic) protobuf encoding, other kinds as JSON.
func desiredHash(obj client.Object) (string, error) {
	data, err := hashEncoding(obj)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16]), nil
}
