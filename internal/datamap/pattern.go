package datamap

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// placeholderName matches the name inside a pattern's braces.
var placeholderName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]{0,62}$`)

// Pattern is a Redis key pattern or a files path pattern: literal text with
// {placeholders} that erasure fills with a subject's values. Patterns never
// contain glob characters, so every key or path they expand to is exact.
type Pattern struct {
	raw   string
	parts []patternPart
	files bool
}

// patternPart is a literal or, when placeholder is set, a placeholder.
type patternPart struct {
	text        string
	placeholder bool
}

// globChars are the characters Redis KEYS/SCAN and shell globs expand.
const globChars = `*?[]\`

// ParseKeyPattern parses a Redis key pattern such as "sess:{session}". It
// must start with literal text and contain at least one placeholder, so that
// it never addresses keys beyond one subject's.
func ParseKeyPattern(s string) (Pattern, error) {
	p, err := parsePattern(s)
	if err != nil {
		return Pattern{}, err
	}
	if p.parts[0].placeholder {
		return Pattern{}, fmt.Errorf("key pattern %q starts with a placeholder: give it a literal prefix such as \"sess:\"", s)
	}
	return p, nil
}

// ParsePathPattern parses a files path pattern such as "users/{id}/" (a
// folder, with the trailing slash) or "exports/{id}.zip" (a file). It must be
// relative, stay inside the volume root, start with a literal folder, and
// use each placeholder as a whole path segment.
func ParsePathPattern(s string) (Pattern, error) {
	if strings.HasPrefix(s, "/") {
		return Pattern{}, fmt.Errorf("path pattern %q is absolute: it must be relative to the volume root", s)
	}
	segments := strings.Split(strings.TrimSuffix(s, "/"), "/")
	for _, seg := range segments {
		switch seg {
		case "..":
			return Pattern{}, fmt.Errorf("path pattern %q escapes the volume root", s)
		case ".", "":
			return Pattern{}, fmt.Errorf("path pattern %q is not clean: no empty or \".\" segments", s)
		}
	}
	p, err := parsePattern(s)
	if err != nil {
		return Pattern{}, err
	}
	p.files = true
	if strings.Contains(segments[0], "{") {
		return Pattern{}, fmt.Errorf("path pattern %q starts with a placeholder: put it under a literal folder such as \"users/\"", s)
	}
	for _, seg := range segments {
		whole := strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") && strings.Count(seg, "{") == 1
		if strings.Contains(seg, "{") && !whole {
			return Pattern{}, fmt.Errorf("path pattern %q: a placeholder must be a whole segment, not part of %q", s, seg)
		}
	}
	return p, nil
}

// parsePattern splits s into literals and placeholders and applies the
// rules shared by keys and paths.
func parsePattern(s string) (Pattern, error) {
	if s == "" {
		return Pattern{}, errors.New("pattern is empty")
	}
	if i := strings.IndexAny(s, globChars); i >= 0 {
		return Pattern{}, fmt.Errorf("pattern %q contains %q: glob patterns would be unbounded; use {placeholders}", s, s[i])
	}
	if hasSpaceOrControl(s) {
		return Pattern{}, fmt.Errorf("pattern %q contains whitespace or a control character", s)
	}
	p := Pattern{raw: s}
	seen := map[string]bool{}
	rest := s
	for rest != "" {
		open := strings.IndexByte(rest, '{')
		closing := strings.IndexByte(rest, '}')
		if open < 0 {
			if closing >= 0 {
				return Pattern{}, fmt.Errorf("pattern %q has an unmatched '}'", s)
			}
			p.parts = append(p.parts, patternPart{text: rest})
			break
		}
		if closing >= 0 && closing < open {
			return Pattern{}, fmt.Errorf("pattern %q has an unmatched '}'", s)
		}
		if open > 0 {
			p.parts = append(p.parts, patternPart{text: rest[:open]})
		} else if len(p.parts) > 0 {
			// The previous part is a placeholder.
			return Pattern{}, fmt.Errorf("pattern %q has adjacent placeholders: separate them with literal text", s)
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return Pattern{}, fmt.Errorf("pattern %q has an unmatched '{'", s)
		}
		name := rest[open+1 : open+end]
		if !placeholderName.MatchString(name) {
			return Pattern{}, fmt.Errorf("pattern %q: invalid placeholder {%s}", s, name)
		}
		if seen[name] {
			return Pattern{}, fmt.Errorf("pattern %q uses {%s} twice", s, name)
		}
		seen[name] = true
		p.parts = append(p.parts, patternPart{text: name, placeholder: true})
		rest = rest[open+end+1:]
	}
	if len(seen) == 0 {
		return Pattern{}, fmt.Errorf("pattern %q has no placeholder: it would not be specific to one subject", s)
	}
	return p, nil
}

// hasSpaceOrControl reports whether s contains whitespace or a control
// character.
func hasSpaceOrControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r == 0x85 || r == 0xa0 })
}

// String returns the pattern as written.
func (p Pattern) String() string { return p.raw }

// IsFolder reports whether a files pattern names a folder (trailing slash).
func (p Pattern) IsFolder() bool { return p.files && strings.HasSuffix(p.raw, "/") }

// Placeholders returns the placeholder names in order of appearance.
func (p Pattern) Placeholders() []string {
	var names []string
	for _, part := range p.parts {
		if part.placeholder {
			names = append(names, part.text)
		}
	}
	return names
}

// hasPlaceholder reports whether name is one of p's placeholders.
func (p Pattern) hasPlaceholder(name string) bool {
	return slices.Contains(p.Placeholders(), name)
}

// Expand fills the placeholders with values and returns the exact key or
// path. A value must be non-empty and free of glob characters, whitespace
// and control characters; in a path it must also be a single segment other
// than "." and "..", so an expanded path never leaves its folder.
func (p Pattern) Expand(values map[string]string) (string, error) {
	if len(p.parts) == 0 {
		return "", errors.New("empty pattern")
	}
	var b strings.Builder
	for _, part := range p.parts {
		if !part.placeholder {
			b.WriteString(part.text)
			continue
		}
		v, ok := values[part.text]
		switch {
		case !ok || v == "":
			return "", fmt.Errorf("pattern %q: no value for {%s}", p.raw, part.text)
		case strings.ContainsAny(v, globChars):
			return "", fmt.Errorf("pattern %q: the value for {%s} contains a glob character", p.raw, part.text)
		case hasSpaceOrControl(v):
			return "", fmt.Errorf("pattern %q: the value for {%s} contains whitespace or a control character", p.raw, part.text)
		case p.files && (strings.Contains(v, "/") || v == "." || v == ".."):
			return "", fmt.Errorf("pattern %q: the value for {%s} is not a single path segment", p.raw, part.text)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}
