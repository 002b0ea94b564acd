package schema

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strings"
	"testing"
)

func TestMigrationsAreOrderedAndParallelAcrossEngines(t *testing.T) {
	var names [][]string
	for _, engine := range engines {
		ms, err := Migrations(engine)
		if err != nil {
			t.Fatalf("Migrations(%s): %v", engine, err)
		}
		if len(ms) == 0 {
			t.Fatalf("no migrations embedded for %s", engine)
		}
		var ns []string
		for i, m := range ms {
			if i > 0 && m.Version <= ms[i-1].Version {
				t.Errorf("%s: migration %d follows %d", engine, m.Version, ms[i-1].Version)
			}
			stmts, err := m.Statements()
			if err != nil {
				t.Errorf("%s: %v", engine, err)
			}
			if len(stmts) == 0 {
				t.Errorf("%s: migration %04d_%s has no statements", engine, m.Version, m.Name)
			}
			ns = append(ns, m.Name)
		}
		names = append(names, ns)
	}
	if !slices.Equal(names[0], names[1]) {
		t.Errorf("engines have different migrations: %s %v, %s %v", engines[0], names[0], engines[1], names[1])
	}
}

func TestMigrationsRejectsAnUnknownEngine(t *testing.T) {
	if _, err := Migrations("sqlite"); err == nil {
		t.Error("Migrations(sqlite) succeeded")
	}
	if _, err := ParseEngine("sqlite"); err == nil {
		t.Error("ParseEngine(sqlite) succeeded")
	}
	for _, e := range engines {
		if got, err := ParseEngine(string(e)); err != nil || got != e {
			t.Errorf("ParseEngine(%q) = %q, %v", e, got, err)
		}
	}
}

func TestSplitStatements(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{"two statements", "CREATE TABLE a (x int);\nCREATE TABLE b (y int);\n", []string{"CREATE TABLE a (x int)", "CREATE TABLE b (y int)"}},
		{"comments dropped", "-- a; comment\nSELECT 1 /* b; c */;", []string{"SELECT 1"}},
		{"semicolon in string", "SELECT 'a;b', 'it''s;';", []string{"SELECT 'a;b', 'it''s;'"}},
		{"semicolon in identifiers", "SELECT \"a;\", `b;`", []string{"SELECT \"a;\", `b;`"}},
		{"no trailing semicolon", "SELECT 1", []string{"SELECT 1"}},
		{"empty statements", ";;\n;", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := splitStatements(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("splitStatements(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	for _, bad := range []string{"SELECT 'x", "SELECT 1 /* x", "CREATE FUNCTION f() AS $$ SELECT 1; $$"} {
		if _, err := splitStatements(bad); err == nil {
			t.Errorf("splitStatements(%q) succeeded, want an error", bad)
		}
	}
}

func TestPostgresLockKeyIsDerivedAsDocumented(t *testing.T) {
	sum := sha256.Sum256([]byte("inboxchat-operator/schema"))
	if want := int64(binary.BigEndian.Uint64(sum[:8])); postgresLockKey != want {
		t.Errorf("postgresLockKey = %#x, want %#x", postgresLockKey, want)
	}
}

func TestEngineDriverNames(t *testing.T) {
	for e, want := range map[Engine]string{Postgres: "pgx", MySQL: "mysql", "oracle": ""} {
		if got := e.DriverName(); got != want {
			t.Errorf("%q.DriverName() = %q, want %q", e, got, want)
		}
	}
	if _, err := Open("oracle", "x"); err == nil || !strings.Contains(err.Error(), "oracle") {
		t.Errorf("Open(oracle) error = %v, want one naming the engine", err)
	}
}
