package messenger

import (
	"net/http"
	"testing"
	"time"
)

func TestParseUsage(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

	t.Run("both headers, the highest percentage wins", func(t *testing.T) {
		h := http.Header{}
		h.Set(HeaderAppUsage, `{"call_count":28,"total_time":25,"total_cputime":25}`)
		h.Set(HeaderBusinessUseCaseUsage, `{"1234":[{"type":"pages","call_count":12,"total_cputime":91,"total_time":40,"estimated_time_to_regain_access":0}],`+
			`"5678":[{"type":"messenger","call_count":3,"total_cputime":1,"total_time":1,"estimated_time_to_regain_access":7}]}`)
		u, ok := ParseUsage(h, now)
		if !ok {
			t.Fatal("ParseUsage reported no usage")
		}
		if u.App == nil || *u.App != (AppUsage{CallCount: 28, TotalCPUTime: 25, TotalTime: 25}) {
			t.Fatalf("App = %+v", u.App)
		}
		if len(u.Business) != 2 || u.Business[0].BusinessID != "1234" || u.Business[0].Type != "pages" || u.Business[1].Type != "messenger" {
			t.Fatalf("Business = %+v", u.Business)
		}
		if got := u.MaxPercent(); got != 91 {
			t.Fatalf("MaxPercent() = %d, want 91", got)
		}
		if got := u.RegainAccessIn(); got != 7*time.Minute {
			t.Fatalf("RegainAccessIn() = %s, want 7m (Graph reports minutes)", got)
		}
		if !u.ObservedAt.Equal(now) {
			t.Fatalf("ObservedAt = %s", u.ObservedAt)
		}
	})

	t.Run("percentages above 100 are capped", func(t *testing.T) {
		h := http.Header{}
		h.Set(HeaderAppUsage, `{"call_count":130,"total_time":2,"total_cputime":2}`)
		u, _ := ParseUsage(h, now)
		if got := u.MaxPercent(); got != 100 {
			t.Fatalf("MaxPercent() = %d, want 100", got)
		}
	})

	t.Run("fractional values are rounded", func(t *testing.T) {
		h := http.Header{}
		h.Set(HeaderAppUsage, `{"call_count":79.6}`)
		u, _ := ParseUsage(h, now)
		if got := u.MaxPercent(); got != 80 {
			t.Fatalf("MaxPercent() = %d, want 80", got)
		}
	})

	t.Run("no headers", func(t *testing.T) {
		if _, ok := ParseUsage(http.Header{}, now); ok {
			t.Fatal("ParseUsage reported usage without headers")
		}
	})

	t.Run("malformed headers are ignored", func(t *testing.T) {
		h := http.Header{}
		h.Set(HeaderAppUsage, `not json`)
		h.Set(HeaderBusinessUseCaseUsage, `{"1":"nope"}`)
		if u, ok := ParseUsage(h, now); ok {
			t.Fatalf("ParseUsage = %+v, want no usage", u)
		}
	})
}
