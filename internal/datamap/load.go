package datamap

import (
	"fmt"

	"sigs.k8s.io/yaml"
)

// Load decodes a YAML (or JSON) data map and validates it. Unknown fields are
// errors. A validation failure returns every problem found, joined; each is
// an [*Error] that names its place in the document.
func Load(data []byte) (*Map, error) {
	var m Map
	if err := yaml.UnmarshalStrict(data, &m); err != nil {
		return nil, fmt.Errorf("decoding data map: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}
