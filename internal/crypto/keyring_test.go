package crypto

import (
	"slices"
	"sync"
	"testing"
	"time"
)

func TestNewKeyringHasOneActiveKey(t *testing.T) {
	kr, err := NewKeyring(t0.Add(1500 * time.Millisecond).In(time.FixedZone("CET", 3600)))
	if err != nil {
		t.Fatal(err)
	}
	if got := kr.ActiveKeyID(); got != "k1" {
		t.Errorf("active key of a new keyring = %q, want k1", got)
	}
	if got := kr.KeyIDs(); !slices.Equal(got, []string{"k1"}) {
		t.Errorf("keys of a new keyring = %v, want [k1]", got)
	}
	if got, want := kr.RotatedAt(), t0.Add(time.Second); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("RotatedAt = %v, want %v in UTC, to the second", got, want)
	}
}

func TestRotateAddsAnActiveKeyAndKeepsTheOldOnes(t *testing.T) {
	kr := newTestKeyring(t)
	for i, want := range []string{"k2", "k3", "k4"} {
		at := t0.Add(time.Duration(i+1) * 90 * day)
		if err := kr.Rotate(at); err != nil {
			t.Fatal(err)
		}
		if kr.ActiveKeyID() != want || !kr.RotatedAt().Equal(at) {
			t.Fatalf("after rotation %d: active %s rotated at %v, want %s at %v", i+1, kr.ActiveKeyID(), kr.RotatedAt(), want, at)
		}
	}
	if got, want := kr.KeyIDs(), []string{"k1", "k2", "k3", "k4"}; !slices.Equal(got, want) {
		t.Errorf("KeyIDs = %v, want %v", got, want)
	}
	if kr.Len() != 4 {
		t.Errorf("Len = %d, want 4", kr.Len())
	}
}

func TestRotateNeverReusesAKeyID(t *testing.T) {
	tests := []struct {
		name   string
		keys   []string
		active string
		want   string
	}{
		{"after the highest key", []string{"k1", "k2", "k3"}, "k3", "k4"},
		{"after a gap", []string{"k1", "k7"}, "k7", "k8"},
		{"old keys dropped", []string{"k5"}, "k5", "k6"},
		{"active is not the newest", []string{"k1", "k2", "k10"}, "k2", "k11"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := map[string][]byte{SecretActive: []byte(tc.active), SecretRotatedAt: []byte(t0.Format(time.RFC3339))}
			for _, id := range tc.keys {
				data[SecretKeyPrefix+id] = make([]byte, KeySize)
			}
			kr, err := KeyringFromSecretData(data)
			if err != nil {
				t.Fatal(err)
			}
			if err := kr.Rotate(t0); err != nil {
				t.Fatal(err)
			}
			if got := kr.ActiveKeyID(); got != tc.want {
				t.Errorf("new key id = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestDueForRotation(t *testing.T) {
	const interval = 90 * day
	kr := newTestKeyring(t)
	tests := []struct {
		name string
		now  time.Time
		want bool
	}{
		{"just made", t0, false},
		{"a second before the interval", t0.Add(interval - time.Second), false},
		{"at the interval", t0.Add(interval), true},
		{"long after", t0.Add(3 * interval), true},
		{"clock behind the rotation", t0.Add(-day), false},
	}
	for _, tc := range tests {
		if got := kr.DueForRotation(tc.now, interval); got != tc.want {
			t.Errorf("%s: DueForRotation = %v, want %v", tc.name, got, tc.want)
		}
	}
	if !new(Keyring).DueForRotation(t0, interval) {
		t.Error("an empty keyring must be due for rotation")
	}
}

func TestZeroKeyringCanBeRotatedIntoUse(t *testing.T) {
	var kr Keyring
	if _, err := kr.Seal([]byte("x"), nil); err == nil {
		t.Fatal("an empty keyring sealed data")
	}
	if _, err := kr.MarshalSecretData(); err == nil {
		t.Fatal("an empty keyring was serialised")
	}
	if err := kr.Rotate(t0); err != nil || kr.ActiveKeyID() != "k1" {
		t.Fatalf("rotating an empty keyring: active %q, error %v", kr.ActiveKeyID(), err)
	}
}

func TestKeyringIsSafeForConcurrentUse(t *testing.T) {
	kr := newTestKeyring(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				if i == 0 && j%10 == 0 {
					if err := kr.Rotate(t0); err != nil {
						t.Error(err)
					}
				}
				sealed, err := kr.Seal([]byte("value"), nil)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := kr.Open(sealed, nil); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestKeySerial(t *testing.T) {
	tests := map[string]int{
		"k1": 1, "k9": 9, "k10": 10, "k123": 123,
		"": -1, "k": -1, "k0": -1, "k01": -1, "k+1": -1, "k-1": -1, "K1": -1, "1": -1,
		"k1 ": -1, "kk1": -1, "k99999999999999999999": -1, "k1\x00": -1,
	}
	for id, want := range tests {
		if got := keySerial(id); got != want {
			t.Errorf("keySerial(%q) = %d, want %d", id, got, want)
		}
	}
}
