package datamap

import (
	"slices"
	"testing"
)

func TestPatternExpand(t *testing.T) {
	key, err := ParseKeyPattern("sess:{session}")
	if err != nil {
		t.Fatal(err)
	}
	folder, err := ParsePathPattern("users/{id}/")
	if err != nil {
		t.Fatal(err)
	}
	file, err := ParsePathPattern("exports/{user}/{id}")
	if err != nil {
		t.Fatal(err)
	}
	if !folder.IsFolder() || file.IsFolder() || key.IsFolder() {
		t.Errorf("IsFolder: folder %v, file %v, key %v", folder.IsFolder(), file.IsFolder(), key.IsFolder())
	}
	if got := file.Placeholders(); !slices.Equal(got, []string{"user", "id"}) {
		t.Errorf("Placeholders() = %v", got)
	}
	for _, tc := range []struct {
		name    string
		p       Pattern
		values  map[string]string
		want    string
		wantErr bool
	}{
		{"key", key, map[string]string{"session": "a1b2"}, "sess:a1b2", false},
		{"folder", folder, map[string]string{"id": "42"}, "users/42/", false},
		{"file", file, map[string]string{"user": "7", "id": "x.zip"}, "exports/7/x.zip", false},
		{"missing value", key, nil, "", true},
		{"empty value", key, map[string]string{"session": ""}, "", true},
		{"glob in a key", key, map[string]string{"session": "*"}, "", true},
		{"space in a key", key, map[string]string{"session": "a b"}, "", true},
		{"newline in a key", key, map[string]string{"session": "a\nb"}, "", true},
		{"slash in a folder", folder, map[string]string{"id": "1/../../etc"}, "", true},
		{"dot-dot in a folder", folder, map[string]string{"id": ".."}, "", true},
		{"dot in a folder", folder, map[string]string{"id": "."}, "", true},
		{"slash in a key is fine", key, map[string]string{"session": "a/b"}, "sess:a/b", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.p.Expand(tc.values)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("Expand(%v) = %q, %v; want %q, error %v", tc.values, got, err, tc.want, tc.wantErr)
			}
		})
	}
	if _, err := (Pattern{}).Expand(nil); err == nil {
		t.Error("the zero Pattern expanded")
	}
}
