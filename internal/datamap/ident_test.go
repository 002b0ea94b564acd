package datamap

import (
	"strings"
	"testing"

	"github.com/inboxchat/inboxchat-operator/internal/schema"
)

func TestQuoteIdent(t *testing.T) {
	for _, tc := range []struct {
		engine schema.Engine
		name   string
		want   string
	}{
		{schema.Postgres, "users", `"users"`},
		{schema.MySQL, "users", "`users`"},
		{schema.Postgres, "_x9", `"_x9"`},
	} {
		got, err := QuoteIdent(tc.engine, tc.name)
		if err != nil || got != tc.want {
			t.Errorf("QuoteIdent(%s, %q) = %q, %v; want %q", tc.engine, tc.name, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "Users", "9lives", `a"b`, "a`b", "a b", "a;drop", "a-b", "é", strings.Repeat("a", 64)} {
		for _, engine := range []schema.Engine{schema.Postgres, schema.MySQL} {
			if got, err := QuoteIdent(engine, bad); err == nil {
				t.Errorf("QuoteIdent(%s, %q) = %q, want an error", engine, bad, got)
			}
		}
	}
	if _, err := QuoteIdent("oracle", "users"); err == nil {
		t.Error("QuoteIdent for an unknown engine succeeded")
	}
}
